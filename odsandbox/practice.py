"""Generation of the practice tables of one office database (called by ``data.py``).

Open Dental's table and column names, declared types as its MySQL schema has them (DATE,
DATETIME), enums stored as integers: ``definition``, ``procedurecode``, ``fee``,
``operatory``, ``carrier``, ``insplan``, ``inssub``, ``patplan``, ``appointment``,
``procedurelog``, ``computer``, and ``schedule`` / ``scheduleop`` (provider schedules).

Consistent with the patients ``data.py`` generated (``PatientInfo``, one per patient): every
appointment belongs to a patient of its operatory's clinic, on a business day between 8:00 and
17:00 in the ~18 months before and ~2 months after the build date; past ones are mostly
Complete (with Complete procedures), some Broken or on the Unscheduled list; future ones are
Scheduled, a few ASAP or Planned (with treatment-planned procedures). Operatories are sized to
the office: enough chairs for its appointments. About 55% of families have insurance (one
subscriber, every member covered; some with a secondary plan), and appointments carry their
patient's plans. A random stream of its own keeps the patients identical to earlier versions.
"""

from __future__ import annotations

import itertools
import math
import random
import sqlite3
from collections import defaultdict
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import NamedTuple

NO_DATE = "0001-01-01"
NO_DATETIME = "0001-01-01 00:00:00"

# Open Dental's enum orders (ApptStatus, ProcStat, TreatmentArea, Relat, NoSendElectType).
APT_STATUS = (
    "None",
    "Scheduled",
    "Complete",
    "UnschedList",
    "ASAP",
    "Broken",
    "Planned",
    "PtNote",
    "PtNoteCompleted",
)
PROC_STATUS = ("", "TP", "C", "EC", "EO", "R", "D", "Cn", "TPi")
TREAT_AREA = ("None", "Surf", "Tooth", "Mouth", "Quad", "Sextant", "Arch", "ToothRange")
RELATIONSHIP = (
    "Self",
    "Spouse",
    "Child",
    "Employee",
    "HandicapDep",
    "SignifOther",
    "InjuredPlaintiff",
    "LifePartner",
    "Dependent",
)
NO_SEND_ELECT = ("SendElect", "NoSendElect", "NoSendSecondaryElect")
PRIORITY = ("Normal", "ASAP")

# definition.Category values (Open Dental's DefCat enum).
CAT_APPT_CONFIRMED = 2
CAT_BILLING_TYPES = 4
CAT_PROC_CODE_CATS = 11
CAT_RECALL_UNSCHED = 13
CAT_PROV_SPECIALTIES = 35

# (DefNum, Category, ItemOrder, ItemName, ItemValue, ItemColor, IsHidden)
DEFINITIONS: tuple[tuple[int, int, int, str, str, int, int], ...] = (
    (19, CAT_APPT_CONFIRMED, 0, "Not Called", "", -1, 0),
    (20, CAT_APPT_CONFIRMED, 1, "Unconfirmed", "", -128, 0),
    (21, CAT_APPT_CONFIRMED, 2, "Appointment Confirmed", "", -16744448, 0),
    (22, CAT_APPT_CONFIRMED, 3, "Left Message", "", -256, 0),
    (23, CAT_APPT_CONFIRMED, 4, "eConfirm Sent", "", -5383962, 0),
    (24, CAT_APPT_CONFIRMED, 5, "eConfirm Declined", "", -65536, 0),
    (25, CAT_APPT_CONFIRMED, 6, "eConfirm Failed", "", -23296, 0),
    (26, CAT_APPT_CONFIRMED, 7, "Arrived", "", -16711681, 0),
    (38, CAT_BILLING_TYPES, 0, "Standard Account", "", 0, 0),
    (39, CAT_BILLING_TYPES, 1, "Finance Charge", "", 0, 0),
    (40, CAT_BILLING_TYPES, 2, "Collections", "C", 0, 0),
    (41, CAT_BILLING_TYPES, 3, "Insurance Only", "", 0, 0),
    (73, CAT_PROC_CODE_CATS, 0, "Exams & Xrays", "", 0, 0),
    (74, CAT_PROC_CODE_CATS, 1, "Cleanings", "", 0, 0),
    (75, CAT_PROC_CODE_CATS, 2, "Fillings", "", 0, 0),
    (76, CAT_PROC_CODE_CATS, 3, "Crowns", "", 0, 0),
    (77, CAT_PROC_CODE_CATS, 4, "Periodontics", "", 0, 0),
    (78, CAT_PROC_CODE_CATS, 5, "Oral Surgery", "", 0, 0),
    (90, CAT_RECALL_UNSCHED, 0, "Do Not Call", "", 0, 0),
    (91, CAT_RECALL_UNSCHED, 1, "Left Message", "", 0, 0),
    (92, CAT_RECALL_UNSCHED, 2, "Appointment Scheduled", "", 0, 0),
    (255, CAT_PROV_SPECIALTIES, 0, "General", "", 0, 0),
    (256, CAT_PROV_SPECIALTIES, 1, "Endodontics", "", 0, 0),
    (257, CAT_PROV_SPECIALTIES, 2, "Pediatric", "", 0, 0),
    (258, CAT_PROV_SPECIALTIES, 3, "Hygienist", "", 0, 0),
)
# The preferences PUT Confirm's confirmVal maps onto (Open Dental's eConfirm statuses).
CONFIRM_PREFERENCES: tuple[tuple[str, str, int], ...] = (
    ("Sent", "ApptEConfirmStatusSent", 23),
    ("Confirmed", "ApptEConfirmStatusAccepted", 21),
    ("Not Accepted", "ApptEConfirmStatusDeclined", 24),
    ("Failed", "ApptEConfirmStatusSendFailed", 25),
)
_CONFIRMED_PAST = (21, 21, 21, 26, 19)
_CONFIRMED_FUTURE = (19, 19, 20, 21, 22, 23)

# (CodeNum, ProcCode, Descript, AbbrDesc, ProcTime, ProcCat, TreatArea, IsHygiene, fee)
PROCEDURE_CODES: tuple[tuple[int, str, str, str, str, int, int, int, float], ...] = (
    (1, "D0120", "periodic oral evaluation - established patient", "PerEx", "/X/", 73, 3, 0, 65.0),
    (2, "D0140", "limited oral evaluation - problem focused", "LimEx", "/X/", 73, 3, 0, 95.0),
    (
        3,
        "D0150",
        "comprehensive oral evaluation - new or established patient",
        "CompEx",
        "/XX/",
        73,
        3,
        0,
        110.0,
    ),  # fmt: skip
    (
        4,
        "D0210",
        "intraoral - comprehensive series of radiographic images",
        "FMX",
        "/XX/",
        73,
        3,
        0,
        150.0,
    ),  # fmt: skip
    (5, "D0220", "intraoral - periapical first radiographic image", "PA", "/X/", 73, 2, 0, 35.0),
    (6, "D0274", "bitewings - four radiographic images", "4BW", "/X/", 73, 3, 0, 70.0),
    (7, "D0330", "panoramic radiographic image", "Pano", "/X/", 73, 3, 0, 125.0),
    (8, "D1110", "prophylaxis - adult", "Pro", "/XXX/", 74, 3, 1, 105.0),
    (9, "D1120", "prophylaxis - child", "ProChild", "/XX/", 74, 3, 1, 75.0),
    (10, "D1206", "topical application of fluoride varnish", "Flo", "/X/", 74, 3, 1, 40.0),
    (
        11,
        "D2391",
        "resin-based composite - one surface, posterior",
        "C1P",
        "/XXX/",
        75,
        1,
        0,
        185.0,
    ),  # fmt: skip
    (
        12,
        "D2392",
        "resin-based composite - two surfaces, posterior",
        "C2P",
        "/XXXX/",
        75,
        1,
        0,
        240.0,
    ),  # fmt: skip
    (13, "D2740", "crown - porcelain/ceramic", "CrPorc", "//XXXXXX//", 76, 2, 0, 1250.0),
    (
        14,
        "D2950",
        "core buildup, including any pins when required",
        "BU",
        "/XX/",
        76,
        2,
        0,
        285.0,
    ),  # fmt: skip
    (
        15,
        "D4341",
        "periodontal scaling and root planing - four or more teeth per quadrant",
        "SRP4+",
        "/XXXXXX/",
        77,
        4,
        1,
        245.0,
    ),  # fmt: skip
    (16, "D4910", "periodontal maintenance", "PerioMaint", "/XXXXX/", 77, 3, 1, 160.0),
    (17, "D7140", "extraction, erupted tooth or exposed root", "Ext", "/XXX/", 78, 2, 0, 195.0),
)
_CODES = {row[1]: row for row in PROCEDURE_CODES}
_RADIOLOGY = ("D0210", "D0220", "D0274", "D0330")
STANDARD_FEE_SCHED = 53

# (name, minutes, codes, hygiene chair, new patient); children get the child recall instead.
_HYGIENE_VISITS = (
    (60, ("D0120", "D1110", "D0274"), False, 30),
    (60, ("D0120", "D1110"), False, 30),
    (80, ("D0150", "D0210", "D1110"), True, 8),
    (60, ("D4910", "D0120"), False, 6),
    (80, ("D4341", "D4341"), False, 4),
)
_CHILD_VISIT = (40, ("D0120", "D1120", "D1206"), False, 1)
_DOCTOR_VISITS = (
    (40, ("D2391",), False, 30),
    (60, ("D2392", "D2391"), False, 15),
    (90, ("D2950", "D2740"), False, 12),
    (20, ("D0140", "D0220"), False, 15),
    (40, ("D7140", "D0220"), False, 8),
    (80, ("D0150", "D0330"), True, 6),
)
_HYGIENE_WEIGHTS = tuple(itertools.accumulate(v[3] for v in _HYGIENE_VISITS))
_DOCTOR_WEIGHTS = tuple(itertools.accumulate(v[3] for v in _DOCTOR_VISITS))
_DENTISTS = (1, 2, 5)
_HYGIENISTS = (3, 4, 6)
_POSTERIOR_TEETH = ("2", "3", "4", "5", "12", "13", "14", "15", "18", "19", "20", "21", "28",
                    "29", "30", "31")  # fmt: skip
_SURFACES = ("O", "MO", "DO", "B", "L", "OL")
_QUADRANTS = ("UR", "UL", "LR", "LL")

APPOINTMENTS_PER_PATIENT = 1.8  # over the whole window; hygiene recalls dominate
_DAYS_BACK = 548
_DAYS_AHEAD = 61
_DAY_START, _DAY_END = 8 * 60, 17 * 60
_APPOINTMENTS_PER_CHAIR_DAY = 6

_CARRIERS = (
    (
        "Delta Dental of Oregon",
        "PO Box 40384",
        "Portland",
        "OR",
        "97240",
        "(800)452-1444",
        "CDOR1",
    ),  # fmt: skip
    ("MetLife Dental", "PO Box 981282", "El Paso", "TX", "79998", "(800)942-0854", "65978"),
    ("Cigna Dental", "PO Box 188037", "Chattanooga", "TN", "37422", "(800)244-6224", "62308"),
    ("Aetna Dental", "PO Box 14094", "Lexington", "KY", "40512", "(877)238-6200", "60054"),
    ("Guardian", "PO Box 981573", "El Paso", "TX", "79998", "(800)541-7846", "64246"),
    (
        "United Concordia",
        "PO Box 69421",
        "Harrisburg",
        "PA",
        "17106",
        "(800)332-0366",
        "CX013",
    ),  # fmt: skip
    ("Humana Dental", "PO Box 14611", "Lexington", "KY", "40512", "(800)233-4013", "73288"),
    (
        "Regence BlueCross BlueShield",
        "PO Box 1271",
        "Portland",
        "OR",
        "97207",
        "(888)344-6347",
        "00851",
    ),  # fmt: skip
)
_EMPLOYERS = (
    "State of Oregon", "Intel Corporation", "Providence Health", "Nike Inc", "Salem Keizer "
    "Schools", "City of Portland", "Kaiser Permanente", "Fred Meyer", "OHSU", "Columbia "
    "Sportswear", "Legacy Health", "Daimler Trucks", "Boeing Portland", "Les Schwab",
    "Oregon State University", "PGE", "Willamette Valley Vineyards", "Bob's Red Mill",
)  # fmt: skip
# (CompName, running): the office's workstations; one old laptop is switched off.
COMPUTERS: tuple[tuple[str, bool], ...] = (
    ("ODSERVER", True),
    ("FRONTDESK1", True),
    ("FRONTDESK2", True),
    ("OP1", True),
    ("OP2", True),
    ("HYGIENE1", True),
    ("DRPRIVATE", True),
    ("OLDLAPTOP", False),
)

SCHEMA: tuple[str, ...] = (
    "CREATE TABLE definition (DefNum INTEGER PRIMARY KEY, Category INTEGER, ItemOrder INTEGER, "
    "ItemName TEXT, ItemValue TEXT, ItemColor INTEGER, IsHidden INTEGER)",
    "CREATE TABLE procedurecode (CodeNum INTEGER PRIMARY KEY, ProcCode TEXT, Descript TEXT, "
    "AbbrDesc TEXT, ProcTime TEXT, ProcCat INTEGER, TreatArea INTEGER, NoBillIns INTEGER, "
    "IsProsth INTEGER, DefaultNote TEXT, IsHygiene INTEGER, PaintType INTEGER, "
    "LaymanTerm TEXT, SubstitutionCode TEXT, SubstOnlyIf INTEGER, DateTStamp DATETIME, "
    "ProvNumDefault INTEGER, IsRadiology INTEGER)",
    "CREATE TABLE fee (FeeNum INTEGER PRIMARY KEY, Amount REAL, OldCode TEXT, "
    "FeeSched INTEGER, UseDefaultFee INTEGER, UseDefaultCov INTEGER, CodeNum INTEGER, "
    "ClinicNum INTEGER, ProvNum INTEGER, SecDateEntry DATE, SecDateTEdit DATETIME)",
    "CREATE TABLE operatory (OperatoryNum INTEGER PRIMARY KEY, OpName TEXT, Abbrev TEXT, "
    "ItemOrder INTEGER, IsHidden INTEGER, ProvDentist INTEGER, ProvHygienist INTEGER, "
    "IsHygiene INTEGER, ClinicNum INTEGER, SetProspective INTEGER, IsWebSched INTEGER, "
    "OperatoryType INTEGER, DateTStamp DATETIME)",
    "CREATE TABLE carrier (CarrierNum INTEGER PRIMARY KEY, CarrierName TEXT, Address TEXT, "
    "Address2 TEXT, City TEXT, State TEXT, Zip TEXT, Phone TEXT, ElectID TEXT, "
    "NoSendElect INTEGER, IsHidden INTEGER, SecDateTEdit DATETIME)",
    "CREATE TABLE insplan (PlanNum INTEGER PRIMARY KEY, GroupName TEXT, GroupNum TEXT, "
    "PlanNote TEXT, FeeSched INTEGER, PlanType TEXT, ClaimFormNum INTEGER, "
    "CopayFeeSched INTEGER, EmployerNum INTEGER, CarrierNum INTEGER, CodeSubstNone INTEGER, "
    "IsHidden INTEGER, MonthRenew INTEGER, IsBlueBookEnabled INTEGER, SecDateTEdit DATETIME)",
    "CREATE TABLE inssub (InsSubNum INTEGER PRIMARY KEY, PlanNum INTEGER, Subscriber INTEGER, "
    "DateEffective DATE, DateTerm DATE, SubscriberID TEXT, BenefitNotes TEXT, "
    "ReleaseInfo INTEGER, AssignBen INTEGER, SubscNote TEXT, SecDateTEdit DATETIME)",
    "CREATE TABLE patplan (PatPlanNum INTEGER PRIMARY KEY, PatNum INTEGER, Ordinal INTEGER, "
    "IsPending INTEGER, Relationship INTEGER, PatID TEXT, InsSubNum INTEGER, "
    "OrthoAutoFeeBilledOverride REAL, OrthoAutoNextClaimDate DATE, SecDateTEntry DATETIME, "
    "SecDateTEdit DATETIME)",
    "CREATE TABLE appointment (AptNum INTEGER PRIMARY KEY, PatNum INTEGER, AptStatus INTEGER, "
    "Pattern TEXT, Confirmed INTEGER, TimeLocked INTEGER, Op INTEGER, Note TEXT, "
    "ProvNum INTEGER, ProvHyg INTEGER, AptDateTime DATETIME, NextAptNum INTEGER, "
    "UnschedStatus INTEGER, IsNewPatient INTEGER, ProcDescript TEXT, ClinicNum INTEGER, "
    "IsHygiene INTEGER, DateTStamp DATETIME, DateTimeArrived DATETIME, "
    "DateTimeSeated DATETIME, DateTimeDismissed DATETIME, InsPlan1 INTEGER, InsPlan2 INTEGER, "
    "DateTimeAskedToArrive DATETIME, ColorOverride INTEGER, AppointmentTypeNum INTEGER, "
    "SecUserNumEntry INTEGER, SecDateTEntry DATETIME, Priority INTEGER, "
    "PatternSecondary TEXT, ItemOrderPlanned INTEGER)",
    "CREATE TABLE procedurelog (ProcNum INTEGER PRIMARY KEY, PatNum INTEGER, AptNum INTEGER, "
    "ProcDate DATE, ProcFee REAL, Surf TEXT, ToothNum TEXT, ToothRange TEXT, "
    "Priority INTEGER, ProcStatus INTEGER, ProvNum INTEGER, Dx INTEGER, "
    "PlannedAptNum INTEGER, PlaceService INTEGER, Prosthesis TEXT, DateOriginalProsth DATE, "
    "ClaimNote TEXT, DateEntryC DATE, ClinicNum INTEGER, CodeNum INTEGER, UnitQty INTEGER, "
    "BaseUnits INTEGER, DateTP DATE, SiteNum INTEGER, HideGraphics INTEGER, "
    "CanadianTypeCodes TEXT, ProcTime TEXT, ProcTimeEnd TEXT, DateTStamp DATETIME, "
    "Prognosis INTEGER, IsLocked INTEGER, BillingNote TEXT, Discount REAL, "
    "IsDateProsthEst INTEGER, SecDateEntry DATETIME)",
    "CREATE TABLE computer (ComputerNum INTEGER PRIMARY KEY, CompName TEXT, "
    "LastHeartBeat DATETIME)",
    "CREATE TABLE schedule (ScheduleNum INTEGER PRIMARY KEY, SchedDate DATE, StartTime TIME, "
    "StopTime TIME, SchedType INTEGER, ProvNum INTEGER, BlockoutType INTEGER, Note TEXT, "
    "Status INTEGER, EmployeeNum INTEGER, DateTStamp DATETIME, ClinicNum INTEGER)",
    "CREATE TABLE scheduleop (ScheduleOpNum INTEGER PRIMARY KEY, ScheduleNum INTEGER, "
    "OperatoryNum INTEGER)",
)
INDEXES: tuple[str, ...] = (
    "CREATE INDEX idx_appointment_patnum ON appointment (PatNum)",
    "CREATE INDEX idx_appointment_aptdatetime ON appointment (AptDateTime)",
    "CREATE INDEX idx_appointment_datetstamp ON appointment (DateTStamp)",
    "CREATE INDEX idx_procedurelog_patnum ON procedurelog (PatNum)",
    "CREATE INDEX idx_procedurelog_aptnum ON procedurelog (AptNum)",
    "CREATE INDEX idx_procedurelog_datetstamp ON procedurelog (DateTStamp)",
    "CREATE INDEX idx_inssub_subscriber ON inssub (Subscriber)",
    "CREATE INDEX idx_patplan_patnum ON patplan (PatNum)",
    "CREATE INDEX idx_patplan_inssubnum ON patplan (InsSubNum)",
    "CREATE INDEX idx_schedule_scheddate ON schedule (SchedDate)",
)


class PatientInfo(NamedTuple):
    """What the practice tables need to know about one generated patient."""

    pat_num: int
    guarantor: int
    status: int
    clinic: int
    pri_prov: int
    position: int
    is_child: bool


class _Chair(NamedTuple):
    op_num: int
    clinic: int
    hygiene: bool
    dentist: int
    hygienist: int


def fill_practice(
    conn: sqlite3.Connection,
    rng: random.Random,
    today: date,
    patients: list[PatientInfo],
    clinic_nums: list[int],
    provider_clinics: list[tuple[int, int]],
) -> None:
    """Create and fill every practice table (after the patients), then their indexes.

    ``provider_clinics`` are the (ProvNum, ClinicNum) rows of ``providerclinic``: a clinic's
    chairs are staffed by the providers who work there.
    """
    for statement in SCHEMA:
        conn.execute(statement)
    stamp = f"{today - timedelta(days=400)} 07:30:00"
    conn.executemany(f"INSERT INTO definition VALUES ({_marks(7)})", DEFINITIONS)  # noqa: S608
    conn.executemany(
        f"INSERT INTO procedurecode VALUES ({_marks(18)})",  # noqa: S608 - placeholders only
        [(c[0], c[1], c[2], c[3], c[4], c[5], c[6], 0, int(c[5] == 76), "", c[7], 0, "", "", 0,
          stamp, 0, int(c[1] in _RADIOLOGY)) for c in PROCEDURE_CODES],
    )  # fmt: skip
    conn.executemany(
        f"INSERT INTO fee VALUES ({_marks(11)})",  # noqa: S608 - placeholders only
        [(c[0], c[8], c[1], STANDARD_FEE_SCHED, 0, 0, c[0], 0, 0, stamp[:10], stamp)
         for c in PROCEDURE_CODES],
    )  # fmt: skip
    by_clinic = _patients_by_clinic(patients, clinic_nums)
    chairs = _chairs(by_clinic, provider_clinics)
    conn.executemany(
        f"INSERT INTO operatory VALUES ({_marks(13)})",  # noqa: S608 - placeholders only
        _operatory_rows(chairs, stamp),
    )
    coverage = _insurance(conn, rng, today, patients)
    _appointments(conn, rng, today, chairs, by_clinic, coverage)
    conn.executemany("INSERT INTO computer VALUES (?, ?, ?)", computer_rows(today))
    _schedules(conn, today, chairs)
    for statement in INDEXES:
        conn.execute(statement)


def _marks(count: int) -> str:
    return ",".join("?" * count)


def computer_rows(today: date) -> list[tuple[int, str, str]]:
    """Workstations as generated: running ones beat just before midnight, the laptop long ago."""
    midnight = datetime.combine(today, datetime.min.time())
    rows = []
    for num, (name, running) in enumerate(COMPUTERS, start=1):
        beat = midnight - (timedelta(seconds=num * 3) if running else timedelta(days=23, hours=7))
        rows.append((num, name, beat.isoformat(" ")))
    return rows


def _schedules(conn: sqlite3.Connection, today: date, chairs: list[_Chair]) -> None:
    """Provider schedules (SchedType 1) for every business day, 8:00-17:00, on their chairs."""
    working: dict[tuple[int, int], list[int]] = defaultdict(list)
    for chair in chairs:
        working[(chair.clinic, chair.hygienist if chair.hygiene else chair.dentist)].append(
            chair.op_num
        )
    schedules: list[tuple[object, ...]] = []
    ops: list[tuple[int, int, int]] = []
    last_stamp = today - timedelta(days=1)
    for day in _business_days(today):
        published = min(day - timedelta(days=30), last_stamp).isoformat()
        for (clinic, prov), op_nums in working.items():
            num = len(schedules) + 1
            schedules.append((num, day.isoformat(), "08:00:00", "17:00:00", 1, prov, 0, "", 0, 0,
                              f"{published} 16:45:00", clinic))  # fmt: skip
            ops.extend((len(ops) + 1, num, op) for op in op_nums)
    conn.executemany(f"INSERT INTO schedule VALUES ({_marks(12)})", schedules)  # noqa: S608
    conn.executemany("INSERT INTO scheduleop VALUES (?, ?, ?)", ops)


def _patients_by_clinic(
    patients: list[PatientInfo], clinic_nums: list[int]
) -> dict[int, tuple[list[PatientInfo], list[PatientInfo]]]:
    """Per clinic (0 without clinics): (patients seen before today, patients seen from today)."""
    pools: dict[int, tuple[list[PatientInfo], list[PatientInfo]]] = {
        c: ([], []) for c in (clinic_nums or [0])
    }
    for p in patients:
        pool = pools.get(p.clinic)
        if pool is None:
            continue
        if p.status in (0, 2, 3):  # Patient, Inactive, Archived were seen in the past
            pool[0].append(p)
        if p.status == 0:
            pool[1].append(p)
    return pools


def _business_days(today: date) -> list[date]:
    """Weekdays from ~18 months back to ~2 months ahead."""
    first = today - timedelta(days=_DAYS_BACK)
    days = (first + timedelta(days=i) for i in range(_DAYS_BACK + _DAYS_AHEAD + 1))
    return [d for d in days if d.weekday() < 5]


def _chairs(
    by_clinic: dict[int, tuple[list[PatientInfo], list[PatientInfo]]],
    provider_clinics: list[tuple[int, int]],
) -> list[_Chair]:
    """Enough operatories per clinic for its daily appointments, every other one for hygiene,
    staffed by the clinic's own dentists and hygienists (any, where it has none of a kind)."""
    days = _DAYS_BACK + _DAYS_AHEAD
    chairs: list[_Chair] = []
    for clinic, (past, _future) in by_clinic.items():
        staff = {prov for prov, at in provider_clinics if at == clinic}
        dentists = [p for p in _DENTISTS if p in staff] or list(_DENTISTS)
        hygienists = [p for p in _HYGIENISTS if p in staff] or list(_HYGIENISTS)
        per_day = len(past) * APPOINTMENTS_PER_PATIENT * 7 / 5 / days
        count = max(2, math.ceil(per_day / _APPOINTMENTS_PER_CHAIR_DAY))
        for i in range(count):
            chairs.append(
                _Chair(
                    len(chairs) + 1,
                    clinic,
                    i % 2 == 1,
                    dentists[(i // 2) % len(dentists)],
                    hygienists[(i // 2) % len(hygienists)],
                )
            )
    return chairs


def _operatory_rows(chairs: list[_Chair], stamp: str) -> Iterator[tuple[object, ...]]:
    """Operatory rows, plus one retired (hidden) chair."""
    for i, chair in enumerate(chairs):
        kind = "Hyg" if chair.hygiene else "Dr"
        yield (
            chair.op_num,
            f"{kind} Chair {i + 1}",
            f"OP-{i + 1}",
            i,
            0,
            0 if chair.hygiene else chair.dentist,
            chair.hygienist if chair.hygiene else 0,
            int(chair.hygiene),
            chair.clinic,
            0,
            int(chair.hygiene and i < 4),
            0,
            stamp,
        )
    last = chairs[-1]
    yield (last.op_num + 1, "Old Ortho Chair", "OP-X", len(chairs), 1, 0, 0, 0, last.clinic,
           0, 0, 0, stamp)  # fmt: skip


def _insurance(
    conn: sqlite3.Connection, rng: random.Random, today: date, patients: list[PatientInfo]
) -> dict[int, list[int]]:
    """Carriers, plans, subscribers and coverage; returns each covered patient's PlanNums."""
    stamp = f"{today - timedelta(days=300)} 10:12:00"
    conn.executemany(
        f"INSERT INTO carrier VALUES ({_marks(12)})",  # noqa: S608 - placeholders only
        [(n, name, addr, "", city, st, zipc, phone, elect, 0, 0, stamp)
         for n, (name, addr, city, st, zipc, phone, elect) in enumerate(_CARRIERS, start=1)],
    )  # fmt: skip
    families: dict[int, list[PatientInfo]] = defaultdict(list)
    for p in patients:
        if p.status != 4:  # deleted patients keep no coverage
            families[p.guarantor].append(p)
    insured = [members for members in families.values() if rng.random() < 0.55]
    plan_count = max(4, len(insured) // 25)
    conn.executemany(
        f"INSERT INTO insplan VALUES ({_marks(15)})",  # noqa: S608 - placeholders only
        _plan_rows(rng, plan_count, stamp),
    )
    subs: list[tuple[object, ...]] = []
    pats: list[tuple[object, ...]] = []
    coverage: dict[int, list[int]] = defaultdict(list)
    for members in insured:
        plans = [rng.randint(1, plan_count)]
        if len(members) > 1 and rng.random() < 0.12:
            plans.append(rng.randint(1, plan_count))
        for ordinal, plan in enumerate(plans, start=1):
            subscriber = members[0] if ordinal == 1 else members[1]
            sub_num = len(subs) + 1
            effective = today - timedelta(days=rng.randint(200, 3000))
            edited = (
                f"{effective + timedelta(days=rng.randint(0, 150))} 11:{rng.randint(10, 59)}:00"
            )
            subs.append((sub_num, plan, subscriber.pat_num, effective.isoformat(), NO_DATE,
                         str(rng.randint(10**8, 10**9 - 1)), "", 1, 1, "", edited))  # fmt: skip
            for member in members:
                relation = _relationship(member, subscriber, members)
                pats.append((len(pats) + 1, member.pat_num, ordinal, 0, relation, "", sub_num,
                             -1.0, NO_DATE, edited, edited))  # fmt: skip
                coverage[member.pat_num].append(plan)
    conn.executemany(f"INSERT INTO inssub VALUES ({_marks(11)})", subs)  # noqa: S608
    conn.executemany(f"INSERT INTO patplan VALUES ({_marks(11)})", pats)  # noqa: S608
    return coverage


def _plan_rows(rng: random.Random, count: int, stamp: str) -> Iterator[tuple[object, ...]]:
    """Employer group plans over the carriers, mostly PPO."""
    for num in range(1, count + 1):
        employer = _EMPLOYERS[(num - 1) % len(_EMPLOYERS)]
        plan_type = rng.choice(("p", "p", "p", "", "f", "c"))
        yield (num, employer, f"G{rng.randint(100000, 999999)}", "", STANDARD_FEE_SCHED,
               plan_type, 1, 0, 0, rng.randint(1, len(_CARRIERS)), 0, 0,
               rng.choice((0, 0, 1, 7)), 0, stamp)  # fmt: skip


def _relationship(member: PatientInfo, subscriber: PatientInfo, family: list[PatientInfo]) -> int:
    """Relat of a family member to the subscriber (Self, Spouse or Child)."""
    if member.pat_num == subscriber.pat_num:
        return 0
    adults = {family[0].pat_num, family[1].pat_num} if len(family) > 1 else set()
    if member.pat_num in adults and subscriber.pat_num in adults and member.position == 1:
        return 1
    return 2


def _appointments(
    conn: sqlite3.Connection,
    rng: random.Random,
    today: date,
    chairs: list[_Chair],
    by_clinic: dict[int, tuple[list[PatientInfo], list[PatientInfo]]],
    coverage: dict[int, list[int]],
) -> None:
    """Day by day: fill each clinic's chairs with visits, writing appointments and procedures."""
    days = _business_days(today)
    chairs_of: dict[int, list[_Chair]] = defaultdict(list)
    for chair in chairs:
        chairs_of[chair.clinic].append(chair)
    writer = _ScheduleWriter(conn, rng, today, coverage, chairs)
    calendar_days = _DAYS_BACK + _DAYS_AHEAD
    for day in days:
        for clinic, clinic_chairs in chairs_of.items():
            past, future = by_clinic[clinic]
            pool = past if day < today else future
            if not pool:
                continue
            per_day = len(by_clinic[clinic][0]) * APPOINTMENTS_PER_PATIENT * 7 / 5 / calendar_days
            count = int(per_day * rng.uniform(0.7, 1.3) + rng.random())
            writer.day(day, clinic_chairs, pool, count)
    writer.flush()


# "HH:mm:ss" for every second of a day: building datetime strings from these is several times
# faster than datetime arithmetic plus isoformat, which dominated the build of big offices.
_CLOCK = tuple(f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86400))


class _ScheduleWriter:
    """Places visits in chairs and buffers appointment and procedure rows for executemany."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        rng: random.Random,
        today: date,
        coverage: dict[int, list[int]],
        chairs: list[_Chair],
    ) -> None:
        self.conn = conn
        self.rng = rng
        self.today = today.toordinal()
        self.coverage = coverage
        self.appointments: list[tuple[object, ...]] = []
        self.procedures: list[tuple[object, ...]] = []
        self.next_apt = 1
        self.next_proc = 1
        self._dates: dict[int, str] = {}
        self.dentists: dict[int, list[int]] = defaultdict(list)
        for chair in chairs:
            if not chair.hygiene and chair.dentist not in self.dentists[chair.clinic]:
                self.dentists[chair.clinic].append(chair.dentist)

    def _date(self, ordinal: int) -> str:
        """yyyy-MM-dd of a day number (cached: few distinct days, many rows)."""
        text = self._dates.get(ordinal)
        if text is None:
            text = self._dates[ordinal] = date.fromordinal(ordinal).isoformat()
        return text

    def _stamp(self, ordinal: int, second: int) -> str:
        """yyyy-MM-dd HH:mm:ss of a day number and a second of the day (which may overflow)."""
        days, second = divmod(second, 86400)
        return f"{self._date(ordinal + days)} {_CLOCK[second]}"

    def day(self, day: date, chairs: list[_Chair], pool: list[PatientInfo], count: int) -> None:
        """Up to ``count`` visits on ``day``, round-robin over the chairs until they are full."""
        rng = self.rng
        ordinal = day.toordinal()
        cursor = [_DAY_START + rng.choice((0, 0, 10, 20))] * len(chairs)
        for i in range(count):
            slot = i % len(chairs)
            chair = chairs[slot]
            patient = pool[int(rng.random() * len(pool))]
            visit = self._visit(chair, patient)
            if cursor[slot] + visit[0] > _DAY_END:
                continue
            self._write(chair, patient, visit, ordinal, cursor[slot])
            cursor[slot] += visit[0] + rng.choice((0, 0, 0, 10, 20, 30))
        if len(self.appointments) > 20_000:
            self.flush()

    def _visit(self, chair: _Chair, patient: PatientInfo) -> tuple[int, tuple[str, ...], bool, int]:
        """A visit template for this chair and patient."""
        if chair.hygiene and patient.is_child:
            return _CHILD_VISIT
        visits = _HYGIENE_VISITS if chair.hygiene else _DOCTOR_VISITS
        weights = _HYGIENE_WEIGHTS if chair.hygiene else _DOCTOR_WEIGHTS
        return self.rng.choices(visits, cum_weights=weights)[0]

    def _write(
        self,
        chair: _Chair,
        patient: PatientInfo,
        visit: tuple[int, tuple[str, ...], bool, int],
        ordinal: int,
        minute: int,
    ) -> None:
        """One appointment row (starting ``minute`` after midnight) and its procedure rows."""
        r = self.rng.random
        length, codes, is_new, _weight = visit
        status = self._status(ordinal)
        apt_num = self.next_apt
        self.next_apt += 1
        start = minute * 60
        # Entered 3-120 days ahead of the visit, and always before today.
        entered_day = min(ordinal - 3 - int(r() * 118), self.today - 1)
        entered = self._stamp(entered_day, 28800 + int(r() * 36000))
        times = (NO_DATETIME,) * 3
        stamp = entered
        if status == 2:
            end = start + length * 60 + int(r() * 900) - 300
            times = (
                self._stamp(ordinal, start - int(r() * 720)),
                self._stamp(ordinal, start + int(r() * 480)),
                self._stamp(ordinal, end),
            )
            stamp = self._stamp(ordinal, end + 60 + int(r() * 2400))
        elif status in (3, 5):
            stamp = self._stamp(ordinal, start - 3600 - int(r() * 90000))
            stamp = max(stamp, entered)
        provider = chair.hygienist if chair.hygiene else chair.dentist
        plans = self.coverage.get(patient.pat_num, ())
        pattern = "//" + "X" * (length // 5 - 4) + "//"
        confirmed = _CONFIRMED_PAST if status == 2 else _CONFIRMED_FUTURE
        self.appointments.append(
            (apt_num, patient.pat_num, status, pattern, confirmed[int(r() * len(confirmed))], 0,
             0 if status == 6 else chair.op_num, "",
             self._dentist(chair, patient),
             provider if chair.hygiene else 0, self._stamp(ordinal, start), 0, 0, int(is_new),
             ", ".join(_CODES[c][3] for c in codes), chair.clinic, int(chair.hygiene), stamp,
             *times, plans[0] if plans else 0, plans[1] if len(plans) > 1 else 0, NO_DATETIME, 0,
             0, 0, entered, int(status == 4), "/" * len(pattern), 0)
        )  # fmt: skip
        day = self._date(ordinal)
        for code in codes:
            self._procedure(patient, apt_num, status, _CODES[code], provider, chair.clinic, day,
                            stamp, entered)  # fmt: skip

    def _dentist(self, chair: _Chair, patient: PatientInfo) -> int:
        """ProvNum of a visit: a hygiene visit goes to the patient's own dentist if they work
        at this clinic, else to one who does."""
        if not chair.hygiene:
            return chair.dentist
        staff = self.dentists[chair.clinic]
        return patient.pri_prov if patient.pri_prov in staff else staff[0]

    def _status(self, ordinal: int) -> int:
        """ApptStatus: past visits mostly Complete, future ones mostly Scheduled."""
        roll = self.rng.random()
        if ordinal < self.today:
            return 2 if roll < 0.9 else (5 if roll < 0.96 else 3)
        return 1 if roll < 0.93 else (4 if roll < 0.96 else 6)

    def _procedure(
        self,
        patient: PatientInfo,
        apt_num: int,
        apt_status: int,
        code: tuple[int, str, str, str, str, int, int, int, float],
        provider: int,
        clinic: int,
        day: str,
        stamp: str,
        entered: str,
    ) -> None:
        """A procedurelog row: Complete with a completed visit, else treatment-planned."""
        r = self.rng.random
        area = code[6]
        tooth = _POSTERIOR_TEETH[int(r() * 16)] if area in (1, 2) else ""
        surf = (
            _SURFACES[int(r() * 6)]
            if area == 1
            else (_QUADRANTS[int(r() * 4)] if area == 4 else "")
        )
        done = apt_status == 2
        planned = apt_status == 6
        self.procedures.append(
            (self.next_proc, patient.pat_num, 0 if planned else apt_num, day if done else NO_DATE,
             code[8], surf, tooth, "", 0, 2 if done else 1, provider, 0, apt_num if planned else 0,
             0, "", NO_DATE, "", day if done else NO_DATE, clinic, code[0], 1, 0, entered[:10], 0,
             0, "", "00:00:00", "00:00:00", stamp, 0, 0, "", 0.0, 0, entered)
        )  # fmt: skip
        self.next_proc += 1

    def flush(self) -> None:
        """Insert the buffered rows."""
        self.conn.executemany(
            f"INSERT INTO appointment VALUES ({_marks(31)})",  # noqa: S608 - placeholders only
            self.appointments,
        )
        self.conn.executemany(
            f"INSERT INTO procedurelog VALUES ({_marks(35)})",  # noqa: S608 - placeholders only
            self.procedures,
        )
        self.appointments.clear()
        self.procedures.clear()
