"""Deterministic generation of one office's Open Dental database into a SQLite file.

Tables and columns carry Open Dental's names (``patient``, ``clinic``, ``provider``,
``providerclinic``, ``preference``, ``apikey``, plus the practice tables of ``practice.py``:
``appointment``, ``procedurelog``, ``operatory``, ``insplan``, ...), and enums are stored as
Open Dental stores them (integers), so SQL written for the real MySQL schema, e.g.
``SELECT patnum, bal_0_30 FROM patient WHERE patnum=guarantor``, runs unchanged here.

Aging invariants on every guarantor row (non-guarantor rows carry zeros):
``BalTotal == Bal_0_30 + Bal_31_60 + Bal_61_90 + BalOver90`` (to the cent),
``0 <= InsEst <= max(BalTotal, 0)``, and the family's ``EstBalance`` values sum to ``BalTotal``.
Exactly ``OfficeSpec.guarantors`` families have a non-zero balance; about
``zero_balance_fraction`` as many extra families have all-zero balances.
"""

from __future__ import annotations

import hashlib
import os
import random
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from odsandbox.config import DEV_NAME, OfficeSpec, random_key
from odsandbox.practice import CONFIRM_PREFERENCES, PatientInfo, fill_practice

GENERATOR_VERSION = 5
PROGRAM_VERSION = "24.4.17.0"
NO_DATE = "0001-01-01"
NO_DATETIME = "0001-01-01 00:00:00"

PATIENT_COLUMNS: tuple[str, ...] = (
    "PatNum",
    "LName",
    "FName",
    "MiddleI",
    "Preferred",
    "PatStatus",
    "Gender",
    "Position",
    "Birthdate",
    "SSN",
    "Address",
    "Address2",
    "City",
    "State",
    "Zip",
    "HmPhone",
    "WkPhone",
    "WirelessPhone",
    "Guarantor",
    "Email",
    "EstBalance",
    "PriProv",
    "SecProv",
    "FeeSched",
    "BillingType",
    "ImageFolder",
    "FamFinUrgNote",
    "ChartNumber",
    "MedicaidID",
    "Bal_0_30",
    "Bal_31_60",
    "Bal_61_90",
    "BalOver90",
    "InsEst",
    "BalTotal",
    "EmployerNum",
    "DateFirstVisit",
    "ClinicNum",
    "Premed",
    "Ward",
    "PreferConfirmMethod",
    "PreferContactMethod",
    "PreferRecallMethod",
    "Language",
    "AdmitDate",
    "SiteNum",
    "DateTStamp",
    "SuperFamily",
    "TxtMsgOk",
    "SecDateEntry",
)

_INTEGER_COLUMNS = {
    "PatNum",
    "PatStatus",
    "Gender",
    "Position",
    "Guarantor",
    "PriProv",
    "SecProv",
    "FeeSched",
    "BillingType",
    "EmployerNum",
    "ClinicNum",
    "Premed",
    "PreferConfirmMethod",
    "PreferContactMethod",
    "PreferRecallMethod",
    "SiteNum",
    "SuperFamily",
    "TxtMsgOk",
}
# Declared as Open Dental's MySQL schema declares them: ShortQuery answers only DATE and
# DATETIME columns in the 'T' form, so the declared type is what decides.
_DATE_COLUMNS = {"Birthdate", "DateFirstVisit", "AdmitDate"}
_DATETIME_COLUMNS = {"DateTStamp", "SecDateEntry"}
_REAL_COLUMNS = {
    "EstBalance",
    "Bal_0_30",
    "Bal_31_60",
    "Bal_61_90",
    "BalOver90",
    "InsEst",
    "BalTotal",
}

# Open Dental's enum orders (PatientStatus, PatientGender, PatientPosition, ContactMethod, YN).
PAT_STATUS = ("Patient", "NonPatient", "Inactive", "Archived", "Deleted", "Deceased", "Prospective")
GENDER = ("Male", "Female", "Unknown", "Other")  # Other: 22.3.6
POSITION = ("Single", "Married", "Child", "Widowed", "Divorced")
CONTACT_METHOD = (
    "None",
    "DoNotCall",
    "HmPhone",
    "WkPhone",
    "WirelessPh",
    "Email",
    "SeeNotes",
    "Mail",
    "TextMessage",
)
YN = ("Unknown", "Yes", "No")
BILLING_TYPES = {
    38: "Standard Account",
    39: "Finance Charge",
    40: "Collections",
    41: "Insurance Only",
}

_SURNAMES = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "Gomez",
    "Phillips",
    "Evans",
    "Turner",
    "Diaz",
    "Parker",
    "Cruz",
    "Edwards",
    "Collins",
    "Reyes",
    "Stewart",
    "Morris",
    "Morales",
    "Murphy",
    "Cook",
    "Rogers",
    "Gutierrez",
    "Ortiz",
    "Morgan",
    "Cooper",
    "Peterson",
    "Bailey",
    "Reed",
    "Kelly",
    "Howard",
    "Ramos",
    "Kim",
    "Cox",
    "Ward",
    "Richardson",
    "Watson",
    "Brooks",
    "Chavez",
    "Wood",
    "James",
    "Bennett",
    "Gray",
    "Mendoza",
    "Ruiz",
    "Hughes",
    "Price",
    "Alvarez",
    "Castillo",
    "Sanders",
    "Patel",
    "Myers",
    "Long",
    "Ross",
    "Foster",
    "Jimenez",
    "O'Brien",
    "McDonald",
]
_MALE = [
    "James",
    "John",
    "Robert",
    "Michael",
    "William",
    "David",
    "Richard",
    "Joseph",
    "Thomas",
    "Charles",
    "Christopher",
    "Daniel",
    "Matthew",
    "Anthony",
    "Mark",
    "Donald",
    "Steven",
    "Paul",
    "Andrew",
    "Joshua",
    "Kevin",
    "Brian",
    "George",
    "Timothy",
    "Ronald",
    "Jason",
    "Edward",
    "Jeffrey",
    "Ryan",
    "Jacob",
    "Gary",
    "Nicholas",
    "Eric",
    "Jonathan",
    "Stephen",
    "Larry",
    "Justin",
    "Scott",
    "Brandon",
    "Benjamin",
    "Samuel",
    "Gregory",
    "Alexander",
    "Patrick",
    "Frank",
    "Raymond",
    "Jack",
    "Dennis",
    "Jerry",
    "Tyler",
]
_FEMALE = [
    "Mary",
    "Patricia",
    "Jennifer",
    "Linda",
    "Elizabeth",
    "Barbara",
    "Susan",
    "Jessica",
    "Sarah",
    "Karen",
    "Lisa",
    "Nancy",
    "Betty",
    "Margaret",
    "Sandra",
    "Ashley",
    "Kimberly",
    "Emily",
    "Donna",
    "Michelle",
    "Carol",
    "Amanda",
    "Dorothy",
    "Melissa",
    "Deborah",
    "Stephanie",
    "Rebecca",
    "Sharon",
    "Laura",
    "Cynthia",
    "Kathleen",
    "Amy",
    "Angela",
    "Shirley",
    "Anna",
    "Brenda",
    "Pamela",
    "Emma",
    "Nicole",
    "Helen",
    "Samantha",
    "Katherine",
    "Christine",
    "Debra",
    "Rachel",
    "Carolyn",
    "Janet",
    "Catherine",
    "Maria",
    "Heather",
]
_STREETS = (
    "Main St",
    "Oak Ave",
    "Maple Dr",
    "Cedar Ln",
    "Pine St",
    "Elm St",
    "Washington Ave",
    "Lake Rd",
    "Hill St",
    "Park Blvd",
    "Sunset Dr",
    "River Rd",
    "Church St",
    "Highland Ave",
    "Meadow Ln",
    "Forest Dr",
    "Spring St",
    "Willow Way",
    "Broadway",
    "Chestnut St",
)
_CITIES = (
    ("Salem", "OR", "973"),
    ("Portland", "OR", "972"),
    ("Eugene", "OR", "974"),
    ("Bend", "OR", "977"),
    ("Vancouver", "WA", "986"),
    ("Boise", "ID", "837"),
    ("Spokane", "WA", "992"),
    ("Medford", "OR", "975"),
)
_CLINIC_SITES = (
    "Downtown",
    "Northside",
    "Westside",
    "Eastgate",
    "Southpark",
    "Riverfront",
    "Hillcrest",
    "Lakeside",
)
_PROVIDERS = (
    ("DOC1", "Albright", "Karen", 0, 0),
    ("DOC2", "Okafor", "Daniel", 0, 0),
    ("HYG1", "Brennan", "Sophie", 1, 0),
    ("HYG2", "Tran", "Linh", 1, 0),
    ("DOC3", "Whitaker", "Paul", 0, 0),
    ("HYG3", "Moreno", "Alicia", 1, 0),
    ("OLD1", "Feldman", "Harold", 0, 1),
)
_PROVIDER_COLORS = (0xA4FFA4, 0xA4A4FF, 0xCB97FF, 0xFFD39B, 0x9BD3FF, 0xFFA4C8, 0xC0C0C0)


@dataclass(frozen=True)
class BuildParams:
    """Inputs that fully determine one office database."""

    spec: OfficeSpec
    rng_label: str
    customer_keys: tuple[str, ...]
    today: date
    zero_balance_fraction: float

    def signature(self) -> int:
        """A 31-bit fingerprint stored in PRAGMA user_version to detect stale cached files."""
        text = repr(
            (
                GENERATOR_VERSION,
                self.spec,
                self.rng_label,
                self.customer_keys,
                self.today.isoformat(),
                self.zero_balance_fraction,
            )
        )
        return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4]) >> 1


def _schema() -> list[str]:
    """CREATE TABLE statements (declared types matter only for readability)."""

    def col_type(name: str) -> str:
        if name in _INTEGER_COLUMNS:
            return "INTEGER"
        if name in _DATE_COLUMNS:
            return "DATE"
        if name in _DATETIME_COLUMNS:
            return "DATETIME"
        return "REAL" if name in _REAL_COLUMNS else "TEXT"

    patient_cols = ", ".join(
        "PatNum INTEGER PRIMARY KEY" if c == "PatNum" else f"{c} {col_type(c)}"
        for c in PATIENT_COLUMNS
    )
    return [
        f"CREATE TABLE patient ({patient_cols})",
        "CREATE TABLE clinic (ClinicNum INTEGER PRIMARY KEY, Description TEXT, Address TEXT, "
        "Address2 TEXT, City TEXT, State TEXT, Zip TEXT, BillingAddress TEXT, "
        "BillingAddress2 TEXT, BillingCity TEXT, BillingState TEXT, BillingZip TEXT, "
        "PayToAddress TEXT, PayToAddress2 TEXT, PayToCity TEXT, PayToState TEXT, PayToZip TEXT, "
        "Phone TEXT, Abbr TEXT, IsHidden INTEGER)",
        "CREATE TABLE provider (ProvNum INTEGER PRIMARY KEY, Abbr TEXT, LName TEXT, FName TEXT, "
        "MI TEXT, Suffix TEXT, FeeSched INTEGER, Specialty INTEGER, IsSecondary INTEGER, "
        "ProvColor INTEGER, IsHidden INTEGER, NationalProvID TEXT, DateTStamp DATETIME, "
        "ProvStatus INTEGER, IsHiddenReport INTEGER, SSN TEXT, StateLicense TEXT, "
        "UsingTIN INTEGER, SigOnFile INTEGER, IsNotPerson INTEGER, Birthdate DATE, "
        "SchedNote TEXT, PreferredName TEXT)",
        "CREATE TABLE providerclinic (ProviderClinicNum INTEGER PRIMARY KEY, ProvNum INTEGER, "
        "ClinicNum INTEGER)",
        "CREATE TABLE preference (PrefNum INTEGER PRIMARY KEY, PrefName TEXT, ValueString TEXT)",
        "CREATE TABLE apikey (APIKeyNum INTEGER PRIMARY KEY, CustApiKey TEXT, DevName TEXT)",
    ]


def build_office_db(path: str, params: BuildParams) -> None:
    """Generate the office database at ``path`` unless a file with the same signature exists."""
    if _is_current(path, params.signature()):
        return
    tmp = f"{path}.{os.getpid()}.tmp"
    if os.path.exists(tmp):
        os.remove(tmp)
    conn = sqlite3.connect(tmp)
    try:
        _fill(conn, params)
        conn.execute(f"PRAGMA user_version = {params.signature()}")
        conn.commit()
    finally:
        conn.close()
    os.replace(tmp, path)


def _is_current(path: str, signature: int) -> bool:
    """True when ``path`` holds a database generated from the same inputs."""
    if not os.path.exists(path):
        return False
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute("PRAGMA user_version").fetchone()[0] == signature
    except sqlite3.DatabaseError:
        return False
    finally:
        conn.close()


def _fill(conn: sqlite3.Connection, params: BuildParams) -> None:
    """Create all tables and insert every row in one transaction."""
    rng = random.Random(params.rng_label)  # noqa: S311 - fake data
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    for statement in _schema():
        conn.execute(statement)
    clinic_nums = list(range(1, params.spec.clinics + 1))
    conn.executemany(
        f"INSERT INTO clinic VALUES ({_marks(20)})",  # noqa: S608 - placeholders only
        _clinic_rows(params.spec, rng),
    )
    conn.executemany(
        f"INSERT INTO provider VALUES ({_marks(23)})",  # noqa: S608 - placeholders only
        _provider_rows(params.today),
    )
    provider_clinics = list(_provider_clinic_rows(clinic_nums))
    conn.executemany("INSERT INTO providerclinic VALUES (NULL, ?, ?)", provider_clinics)
    conn.executemany("INSERT INTO preference VALUES (?, ?, ?)", _preference_rows(params, rng))
    conn.executemany("INSERT INTO apikey VALUES (?, ?, ?)", _apikey_rows(params, rng))
    patients: list[PatientInfo] = []
    conn.executemany(
        f"INSERT INTO patient VALUES ({_marks(len(PATIENT_COLUMNS))})",  # noqa: S608
        _noting(_patient_rows(params, rng, clinic_nums), patients, params.today),
    )
    conn.execute("CREATE INDEX idx_patient_guarantor ON patient (Guarantor)")
    conn.execute("CREATE INDEX idx_patient_datetstamp ON patient (DateTStamp)")
    conn.execute("CREATE INDEX idx_patient_name ON patient (LName, FName)")
    # A stream of its own, so the patients stay what earlier versions generated.
    practice_rng = random.Random(f"{params.rng_label}:practice")  # noqa: S311 - fake data
    fill_practice(conn, practice_rng, params.today, patients, clinic_nums, provider_clinics)
    conn.execute("PRAGMA journal_mode = WAL")


_INFO_COLUMNS = tuple(
    PATIENT_COLUMNS.index(c)
    for c in ("PatNum", "Guarantor", "PatStatus", "ClinicNum", "PriProv", "Position", "Birthdate")
)


def _noting(
    rows: Iterator[tuple[object, ...]], into: list[PatientInfo], today: date
) -> Iterator[tuple[object, ...]]:
    """Pass patient rows through, keeping what the practice tables need about each."""
    child_born_after = (today - timedelta(days=14 * 365)).isoformat()
    num, guarantor, status, clinic, prov, position, birth = _INFO_COLUMNS
    for row in rows:
        into.append(
            PatientInfo(
                row[num], row[guarantor], row[status], row[clinic], row[prov], row[position],
                row[birth] > child_born_after,
            )  # type: ignore[arg-type]
        )  # fmt: skip
        yield row


def _marks(count: int) -> str:
    """``count`` SQL placeholders."""
    return ",".join("?" * count)


def _clinic_rows(spec: OfficeSpec, rng: random.Random) -> Iterator[tuple[object, ...]]:
    """One row per clinic; none when the office does not use clinics."""
    for num in range(1, spec.clinics + 1):
        site = _CLINIC_SITES[(num - 1) % len(_CLINIC_SITES)]
        city, state, zip3 = _CITIES[(num - 1) % len(_CITIES)]
        address = f"{rng.randint(100, 9999)} {rng.choice(_STREETS)}"
        zipcode = f"{zip3}{rng.randint(10, 99)}"
        phone = f"503555{rng.randint(1000, 9999)}"
        yield (
            num,
            f"{spec.name} - {site}",
            address,
            "",
            city,
            state,
            zipcode,
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            phone,
            site[:8],
            0,
        )


def _provider_rows(today: date) -> Iterator[tuple[object, ...]]:
    """A fixed staff of dentists and hygienists (one retired and hidden)."""
    stamp = f"{today - timedelta(days=40)} 09:15:00"
    for num, (abbr, lname, fname, is_secondary, hidden) in enumerate(_PROVIDERS, start=1):
        specialty = 258 if is_secondary else 255
        npi = f"1{num:03d}{num * 7919 % 1000000:06d}"
        # Open Dental stores colours as .NET ARGB integers (opaque: alpha 255).
        argb = -16777216 + (_PROVIDER_COLORS[(num - 1) % len(_PROVIDER_COLORS)])
        yield (
            num,
            abbr,
            lname,
            fname,
            "",
            "DDS" if not is_secondary else "RDH",
            53,
            specialty,
            is_secondary,
            argb,
            hidden,
            npi,
            stamp,
            hidden,
            hidden,
            *_provider_details(num, bool(is_secondary), today),
        )


def _provider_details(num: int, is_secondary: bool, today: date) -> tuple[object, ...]:
    """SSN (or TIN), StateLicense, UsingTIN, SigOnFile, IsNotPerson, Birthdate, SchedNote,
    PreferredName: mostly as blank as the doc examples show them."""
    owner = num == 1
    return (
        f"{num * 152286418 % 10**9:09d}" if not is_secondary else "",
        f"{'H' if is_secondary else 'D'}{7600 + num}",
        int(owner),
        int(not is_secondary),
        0,
        today.replace(year=today.year - 48, day=1).isoformat() if owner else NO_DATE,
        "Mornings only" if num == 4 else "",
        "Kay" if owner else "",
    )


def _provider_clinic_rows(clinic_nums: list[int]) -> Iterator[tuple[int, int]]:
    """Providers restricted to one or two clinics; every third one is unrestricted (no rows),
    so it works at every clinic."""
    for prov in range(1, len(_PROVIDERS) + 1):
        if prov % 3 == 0:
            continue
        for offset in range(1 + prov % 2 if clinic_nums else 0):
            yield prov, clinic_nums[(prov + offset) % len(clinic_nums)]


def _preference_rows(params: BuildParams, rng: random.Random) -> list[tuple[int, str, str]]:
    """The preferences the aging recipe reads, plus a handful of ordinary ones."""
    spec = params.spec
    values = [
        ("AccountingSoftware", "0"),
        ("AgingBeginDateTime", ""),
        ("AgingCalculatedMonthlyInsteadOfDaily", "0"),
        ("AgingIsEnterprise", "0"),
        ("AgingServiceTimeDue", f"0001-01-01 0{rng.randint(1, 5)}:00:00"),
        ("AgingReportShowAgePatPayplanPayments", "0"),
        ("BillingAgeOfAccount", ""),
        ("DataBaseVersion", PROGRAM_VERSION),
        *((pref, str(def_num)) for _label, pref, def_num in CONFIRM_PREFERENCES),
        ("DateLastAging", params.today.isoformat()),
        ("EasyNoClinics", "0" if spec.clinics else "1"),
        ("FamPhiAccess", "1"),
        ("PracticeTitle", spec.name),
        ("PracticeAddress", f"{rng.randint(100, 9999)} {rng.choice(_STREETS)}"),
        ("PracticeCity", "Salem"),
        ("PracticeST", "OR"),
        ("PracticePhone", f"503555{rng.randint(1000, 9999)}"),
        ("ProgramVersion", PROGRAM_VERSION),
        ("TimeCardOvertimeFirstDayOfWeek", "0"),
        ("UpdateStreamLinePassword", ""),
        ("WebServiceServerName", ""),
    ]
    return [(num, name, value) for num, (name, value) in enumerate(values, start=1)]


def _apikey_rows(params: BuildParams, rng: random.Random) -> list[tuple[int, str, str]]:
    """Keys the office has added: ours, plus another vendor's for realism."""
    rows = [(i, key, DEV_NAME) for i, key in enumerate(params.customer_keys, start=1)]
    rows.append((len(rows) + 1, random_key(rng), "Acme Reminders LLC"))
    return rows


def _family_sizes(rng: random.Random, count: int) -> list[int]:
    """Family sizes with a realistic spread (many singles, few large families)."""
    return rng.choices((1, 2, 3, 4, 5, 6), weights=(35, 25, 18, 13, 7, 2), k=count)


def _family_flags(params: BuildParams, rng: random.Random) -> list[bool]:
    """True for families with a non-zero balance; exactly ``spec.guarantors`` of them."""
    nonzero = params.spec.guarantors
    zero = max(2, round(nonzero * params.zero_balance_fraction))
    flags = [True] * nonzero + [False] * zero
    rng.shuffle(flags)
    return flags


def _patient_rows(
    params: BuildParams, rng: random.Random, clinic_nums: list[int]
) -> Iterator[tuple[object, ...]]:
    """All patient rows, family by family, in PatNum order."""
    flags = _family_flags(params, rng)
    sizes = _family_sizes(rng, len(flags))
    next_num = 1
    for has_balance, size in zip(flags, sizes, strict=True):
        family = _Family(rng, params.today, next_num, size, clinic_nums, has_balance)
        yield from family.rows()
        next_num += size


class _Family:
    """Generates the rows of one family: the guarantor first, then spouse and children."""

    def __init__(
        self,
        rng: random.Random,
        today: date,
        guarantor: int,
        size: int,
        clinic_nums: list[int],
        has_balance: bool,
    ) -> None:
        self.rng = rng
        self.today = today
        self.guarantor = guarantor
        self.size = size
        self.lname = rng.choice(_SURNAMES)
        city, state, zip3 = rng.choice(_CITIES)
        self.address = (
            f"{rng.randint(100, 9999)} {rng.choice(_STREETS)}",
            city,
            state,
            f"{zip3}{rng.randint(10, 99)}",
        )
        self.phone = f"({zip3}) 555-{rng.randint(1000, 9999)}"
        self.clinic = rng.choice(clinic_nums) if clinic_nums else 0
        self.prov = rng.choice((1, 1, 2, 2, 5))
        self.buckets = _aging_buckets(rng) if has_balance else (0.0, 0.0, 0.0, 0.0)
        self.total = round(sum(self.buckets), 2)
        self.ins_est = _ins_estimate(rng, self.total)
        self.est_balances = _split_cents(rng, self.total, size)

    def rows(self) -> Iterator[tuple[object, ...]]:
        """Rows for every member, with family aging only on the guarantor row."""
        for index in range(self.size):
            yield self._member_row(index)

    def _member_row(self, index: int) -> tuple[object, ...]:
        rng = self.rng
        is_guarantor = index == 0
        pat_num = self.guarantor + index
        position = (1 if self.size > 1 else rng.choice((0, 0, 3, 4))) if index < 2 else 2
        gender = (index + rng.randint(0, 1)) % 2 if rng.random() > 0.01 else 2
        fname = rng.choice(_MALE if gender == 0 else _FEMALE)
        age_days = rng.randint(25 * 365, 80 * 365) if index < 2 else rng.randint(2 * 365, 20 * 365)
        first_visit = self.today - timedelta(days=rng.randint(30, 3650))
        stamp = datetime.combine(self.today, datetime.min.time()) - timedelta(
            seconds=rng.randint(60, 730 * 86400)
        )
        aging = (*self.buckets, self.ins_est, self.total) if is_guarantor else (0.0,) * 6
        address, city, state, zipcode = self.address
        email = f"{fname.lower()}.{self.lname.lower().replace(chr(39), '')}{pat_num}@example.com"
        return (
            pat_num,
            self.lname,
            fname,
            rng.choice("ABCDEFGHJKLMNPRSTW") if rng.random() < 0.3 else "",
            "",
            _pat_status(rng, is_guarantor),
            gender,
            position,
            (self.today - timedelta(days=age_days)).isoformat(),
            str(rng.randint(10**8, 9 * 10**8)),
            address,
            "",
            city,
            state,
            zipcode,
            self.phone,
            "",
            f"503555{rng.randint(1000, 9999)}",
            self.guarantor,
            email,
            self.est_balances[index],
            self.prov,
            rng.choice((0, 3, 4)),
            0,
            38 if rng.random() < 0.9 else 39,
            f"{self.lname}{fname}{pat_num}",
            "",
            str(pat_num),
            "",
            *aging,
            0,
            first_visit.isoformat(),
            self.clinic,
            int(rng.random() < 0.03),
            "",
            0,
            rng.choice((0, 2, 4, 8)),
            rng.choice((0, 2, 8)),
            "",
            NO_DATE,
            0,
            stamp.strftime("%Y-%m-%d %H:%M:%S"),
            0,
            rng.choice((0, 1, 1, 2)),
            f"{first_visit.isoformat()} 08:00:00",
        )


def _pat_status(rng: random.Random, is_guarantor: bool) -> int:
    """Mostly active patients; a few inactive/archived; deleted/deceased only for dependants."""
    roll = rng.random()
    if roll < 0.88:
        return 0
    if roll < 0.94:
        return 2
    if roll < 0.97 or is_guarantor:
        return 3 if roll < 0.97 else 1
    return rng.choice((1, 4, 5, 6))


def _aging_buckets(rng: random.Random) -> tuple[float, float, float, float]:
    """Non-zero family aging; about 8% are credits, which Open Dental puts in 0-30."""
    if rng.random() < 0.08:
        return (-round(rng.uniform(5, 400), 2), 0.0, 0.0, 0.0)
    b1 = round(rng.uniform(20, 900), 2) if rng.random() < 0.75 else 0.0
    b2 = round(rng.uniform(10, 600), 2) if rng.random() < 0.35 else 0.0
    b3 = round(rng.uniform(10, 500), 2) if rng.random() < 0.2 else 0.0
    b4 = round(rng.uniform(10, 2000), 2) if rng.random() < 0.25 else 0.0
    if b1 == b2 == b3 == b4 == 0.0:
        b1 = round(rng.uniform(20, 900), 2)
    return (b1, b2, b3, b4)


def _ins_estimate(rng: random.Random, total: float) -> float:
    """Pending insurance for 40% of families that owe money, never above the balance."""
    if total <= 0 or rng.random() >= 0.4:
        return 0.0
    return round(total * rng.uniform(0.1, 0.8), 2)


def _split_cents(rng: random.Random, total: float, parts: int) -> list[float]:
    """Split ``total`` over family members in whole cents so the parts sum exactly to it."""
    cents = round(total * 100)
    shares = [0] * parts
    for i in range(1, parts):
        if cents and rng.random() < 0.5:
            shares[i] = round(cents * rng.uniform(0.05, 0.4))
    shares[0] = cents - sum(shares)
    return [share / 100 for share in shares]
