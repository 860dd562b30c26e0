"""Patient writes: ``POST /patients`` and ``PUT /patients/{PatNum}`` (apipatients.html).

Both need ApiPatients. Bodies use the GET field names with enums as labels; fields a request
leaves out stay unchanged, an empty string clears a text field (not LName/FName), and every
write stamps ``DateTStamp`` with the office clock, so API Events and ``DateTStamp`` filters see
it. Validation happens in two steps: the body's types and labels here on the event loop, then
references (providers, clinics, families) and the duplicate check inside the write transaction.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Any

from starlette.responses import Response

from odsandbox.data import (
    BILLING_TYPES,
    CONTACT_METHOD,
    GENDER,
    NO_DATE,
    PAT_STATUS,
    PATIENT_COLUMNS,
    POSITION,
    YN,
)
from odsandbox.resources import abbreviations, patient_json
from odsandbox.web import ApiError, json_object, json_response

if TYPE_CHECKING:
    from odsandbox.app import Ctx

_DELETED = PAT_STATUS.index("Deleted")
_NAMES = ("LName", "FName")
_TEXT = (
    "MiddleI",
    "Preferred",
    "SSN",
    "Address",
    "Address2",
    "City",
    "State",
    "Zip",
    "HmPhone",
    "WkPhone",
    "WirelessPhone",
    "Email",
    "FamFinUrgNote",
    "ChartNumber",
    "MedicaidID",
    "Ward",
    "Language",
)
_ENUMS: dict[str, tuple[str, ...]] = {
    "PatStatus": PAT_STATUS,
    "Gender": GENDER,
    "Position": POSITION,
    "PreferConfirmMethod": CONTACT_METHOD,
    "PreferContactMethod": CONTACT_METHOD,
    "PreferRecallMethod": CONTACT_METHOD,
    "TxtMsgOk": YN,
}
_DATES = ("Birthdate", "DateFirstVisit", "AdmitDate")
# Number fields and the table whose primary key they must name (None: any number >= 0).
_REFS: dict[str, tuple[str, str] | None] = {
    "PriProv": ("provider", "ProvNum"),
    "SecProv": ("provider", "ProvNum"),
    "ClinicNum": ("clinic", "ClinicNum"),
    "Guarantor": ("patient", "PatNum"),
    "SuperFamily": ("patient", "PatNum"),
    "EmployerNum": None,
}
_ZERO_ALLOWED = {"SecProv", "ClinicNum", "SuperFamily", "EmployerNum"}
_ZIP = re.compile(r"\d{5}(-\d{4})?|\d{9}|[A-Za-z]\d[A-Za-z] ?\d[A-Za-z]\d")
_DEFAULT_BILLING_TYPE = 38  # "Standard Account"
_DEFAULT_PROV = 1  # the practice's default provider ([I])
_FAMILY_AGING = ("Bal_0_30", "Bal_31_60", "Bal_61_90", "BalOver90", "InsEst", "BalTotal")


def _text(name: str, raw: object) -> str:
    if not isinstance(raw, str):
        raise ApiError(400, f"{name} must be a string.")
    if name == "Zip" and raw and not _ZIP.fullmatch(raw):
        raise ApiError(400, "Zip must be in format 12345, 12345-1234, 123456789 or A0A 0A0.")
    if name == "ChartNumber" and len(raw) > 15:
        raise ApiError(400, "ChartNumber cannot be longer than 15 characters.")
    return raw


def _name(name: str, raw: object) -> str:
    text = _text(name, raw).strip()
    if not text:
        raise ApiError(400, f"{name} cannot be blank.")
    return text


def _enum(name: str, raw: object) -> int:
    labels = _ENUMS[name]
    allowed = [label for label in labels if label != "Deleted"]  # the API cannot delete
    lowered = [label.lower() for label in allowed]
    if not isinstance(raw, str) or raw.lower() not in lowered:
        raise ApiError(400, f"{name} must be one of: {', '.join(allowed)}.")
    return labels.index(allowed[lowered.index(raw.lower())])


def _date(name: str, raw: object) -> str:
    if raw == "":
        return NO_DATE
    try:
        assert isinstance(raw, str) and len(raw) == 10
        return date.fromisoformat(raw).isoformat()
    except (AssertionError, ValueError):
        raise ApiError(400, f"{name} must be a date in yyyy-MM-dd format.") from None


def _number(name: str, raw: object) -> int:
    text = str(raw) if isinstance(raw, int | str) and not isinstance(raw, bool) else ""
    if not text.isdigit():
        raise ApiError(400, f"{name} must be a whole number.")
    value = int(text)
    if value == 0 and name not in _ZERO_ALLOWED:
        raise ApiError(400, f"{name} cannot be 0.")
    return value


def _billing(name: str, raw: object) -> int:
    by_label = {label.lower(): num for num, label in BILLING_TYPES.items()}
    if not isinstance(raw, str) or raw.lower() not in by_label:
        raise ApiError(400, f"BillingType must be one of: {', '.join(BILLING_TYPES.values())}.")
    return by_label[raw.lower()]


_PARSERS: dict[str, Callable[[str, object], object]] = {
    **dict.fromkeys(_NAMES, _name),
    **dict.fromkeys(_TEXT, _text),
    **dict.fromkeys(_ENUMS, _enum),
    **dict.fromkeys(_DATES, _date),
    **dict.fromkeys(_REFS, _number),
    "BillingType": _billing,
}
_CANONICAL = {name.lower(): name for name in _PARSERS}


def patient_changes(body: dict[str, Any], *, creating: bool) -> dict[str, object]:
    """Validated column values from a POST/PUT body; 400 with an explanation otherwise.

    Field names match case-insensitively; unknown and read-only fields (PatNum, EstBalance,
    priProvAbbr, ...) and nulls are ignored, so a client may send back a patient it read.
    """
    changes: dict[str, object] = {}
    for key, raw in body.items():
        name = _CANONICAL.get(key.lower())
        if name is not None and raw is not None:
            changes[name] = _PARSERS[name](name, raw)
    missing = [name for name in _NAMES if name not in changes]
    if creating and missing:
        raise ApiError(
            400, f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} required."
        )
    if "Guarantor" in changes and "SuperFamily" in changes:
        raise ApiError(400, "Only Guarantor or SuperFamily may be set in a single request.")
    return changes


def _check_refs(conn: sqlite3.Connection, changes: dict[str, object]) -> None:
    """400 when a number names a provider, clinic or patient that does not exist."""
    for name, ref in _REFS.items():
        value = changes.get(name)
        if ref is None or value is None or value == 0:
            continue
        table, pk = ref
        sql = f"SELECT 1 FROM {table} WHERE {pk} = ?"  # noqa: S608 - constants from _REFS
        if conn.execute(sql, (value,)).fetchone() is None:
            raise ApiError(400, f"{name} {value} does not exist.")


def _contacts(email: object, *phones: object) -> set[str]:
    """An email (lower case) and phone numbers (digits only), for the duplicate check."""
    found = {str(email).strip().lower()} if email else set()
    found |= {re.sub(r"\D", "", str(p)) for p in phones if p and re.sub(r"\D", "", str(p))}
    return found


def _duplicate_of(conn: sqlite3.Connection, changes: dict[str, object]) -> int | None:
    """PatNum of an existing patient the new one duplicates (name, birthdate and contact).

    Same LName, FName (case-insensitive) and Birthdate, and, when the new patient gives an
    email or a phone, one of them matching; with no contact details name and birthdate decide.
    """
    birthdate = changes.get("Birthdate", NO_DATE)
    sql = (
        "SELECT PatNum, Email, HmPhone, WkPhone, WirelessPhone FROM patient WHERE "
        "LName = ? COLLATE NOCASE AND FName = ? COLLATE NOCASE AND Birthdate = ? "
        "AND PatStatus <> ? ORDER BY PatNum"
    )
    phones = ("HmPhone", "WkPhone", "WirelessPhone")
    mine = _contacts(changes.get("Email"), *(changes.get(p) for p in phones))
    args = (changes["LName"], changes["FName"], birthdate, _DELETED)
    for row in conn.execute(sql, args):
        if not mine or mine & _contacts(row["Email"], *(row[p] for p in phones)):
            return int(row["PatNum"])
    return None


def _default(column: str) -> object:
    """What a column holds when a new patient's request does not set it."""
    defaults: dict[str, object] = {
        "Gender": GENDER.index("Unknown"),
        "BillingType": _DEFAULT_BILLING_TYPE,
        "PriProv": _DEFAULT_PROV,
    }
    if column in defaults:
        return defaults[column]
    if column in _DATES:
        return NO_DATE
    if column in _TEXT or column in ("ImageFolder", "LName", "FName"):
        return ""
    return 0


def _head_of(conn: sqlite3.Connection, pat_num: int) -> sqlite3.Row:
    """The patient row of a Guarantor value; 400 unless it heads a household."""
    row = conn.execute("SELECT * FROM patient WHERE PatNum = ?", (pat_num,)).fetchone()
    if row is None or row["PatNum"] != row["Guarantor"]:
        raise ApiError(400, f"Guarantor {pat_num} is not the head of a household.")
    return row


def insert_patient(conn: sqlite3.Connection, changes: dict[str, object], now: str) -> int:
    """Blocking: validate references, refuse duplicates, insert; returns the new PatNum."""
    _check_refs(conn, changes)
    if changes.get("FamFinUrgNote") and "Guarantor" in changes:
        raise ApiError(400, "FamFinUrgNote can only be set for a guarantor.")
    if "Guarantor" in changes:
        _head_of(conn, changes["Guarantor"])
    duplicate = _duplicate_of(conn, changes)
    if duplicate is not None:
        raise ApiError(400, f"Patient already exists (PatNum {duplicate}).")
    row = {c: changes.get(c, _default(c)) for c in PATIENT_COLUMNS if c != "PatNum"}
    row.update(DateTStamp=now, SecDateEntry=now)
    marks = ", ".join("?" * len(row))
    sql = f"INSERT INTO patient ({', '.join(row)}) VALUES ({marks})"  # noqa: S608 - column names are constants
    pat_num = int(conn.execute(sql, tuple(row.values())).lastrowid or 0)
    folder = f"{row['LName']}{row['FName']}{pat_num}"
    conn.execute(
        "UPDATE patient SET Guarantor = ?, ImageFolder = ? WHERE PatNum = ?",
        (changes.get("Guarantor", pat_num), re.sub(r"[^A-Za-z0-9]", "", folder), pat_num),
    )
    return pat_num


def update_patient(
    conn: sqlite3.Connection, pat_num: int, changes: dict[str, object], now: str
) -> None:
    """Blocking: apply a PUT to one patient (404 absent, 400 deleted or invalid)."""
    row = conn.execute("SELECT * FROM patient WHERE PatNum = ?", (pat_num,)).fetchone()
    if row is None:
        raise ApiError(404, "Patient not found.")
    if row["PatStatus"] == _DELETED:
        raise ApiError(400, "Patient is deleted and cannot be modified.")
    _check_refs(conn, changes)
    guarantor = changes.get("Guarantor", row["Guarantor"])
    if guarantor != row["Guarantor"]:
        _change_family(conn, row, guarantor, now)
    if changes.get("FamFinUrgNote") and guarantor != pat_num:
        raise ApiError(400, "FamFinUrgNote can only be set for a guarantor.")
    values = {k: v for k, v in changes.items() if k != "Guarantor"}
    values["DateTStamp"] = now
    assignments = ", ".join(f"{column} = ?" for column in values)
    sql = f"UPDATE patient SET {assignments} WHERE PatNum = ?"  # noqa: S608 - column names are constants
    conn.execute(sql, (*values.values(), pat_num))


def _change_family(conn: sqlite3.Connection, row: sqlite3.Row, guarantor: int, now: str) -> None:
    """Move a patient to another household, or make them head of their own or of theirs.

    As Open Dental documents, another member of the family can only become guarantor when the
    patient being updated is the family's current guarantor; the family's aging then moves to
    the new head's row. Moving a patient between families does not recompute balances.
    """
    pat_num, old = row["PatNum"], row["Guarantor"]
    target = conn.execute(
        "SELECT PatNum, Guarantor FROM patient WHERE PatNum = ?", (guarantor,)
    ).fetchone()
    if guarantor != pat_num and target["Guarantor"] == old:
        if pat_num != old:
            raise ApiError(400, "Only the family's guarantor can make another member guarantor.")
        _move_family_head(conn, old, guarantor, now)
        return
    if guarantor != pat_num and target["Guarantor"] != guarantor:
        raise ApiError(400, f"Guarantor {guarantor} is not the head of a household.")
    members = conn.execute("SELECT COUNT(*) FROM patient WHERE Guarantor = ?", (old,)).fetchone()
    if pat_num == old and members[0] > 1:
        raise ApiError(400, "A guarantor with family members cannot join another family.")
    conn.execute("UPDATE patient SET Guarantor = ? WHERE PatNum = ?", (guarantor, pat_num))


def _move_family_head(conn: sqlite3.Connection, old: int, new: int, now: str) -> None:
    """Make ``new`` the family's guarantor, carrying the family aging over to its row.

    Every row that changes gets a new DateTStamp, as MySQL's ON UPDATE timestamp would give it.
    """
    moved = ", ".join(f"{c} = (SELECT {c} FROM patient WHERE PatNum = ?)" for c in _FAMILY_AGING)  # noqa: S608
    sql = f"UPDATE patient SET {moved} WHERE PatNum = ?"  # noqa: S608 - constant column names
    conn.execute(sql, (*[old] * len(_FAMILY_AGING), new))
    zeros = ", ".join(f"{c} = 0" for c in _FAMILY_AGING)
    conn.execute(f"UPDATE patient SET {zeros} WHERE PatNum = ?", (old,))  # noqa: S608
    conn.execute(
        "UPDATE patient SET Guarantor = ?, DateTStamp = ? WHERE Guarantor = ?", (new, now, old)
    )


def _patient_out(ctx: Ctx, pat_num: int) -> dict[str, Any]:
    """Blocking: the patient as GET /patients/{PatNum} shows it."""
    store = ctx.office.store
    row = store.fetch("SELECT * FROM patient WHERE PatNum = ?", (pat_num,))[0]
    return patient_json(row, *abbreviations(store))


async def patient_create(ctx: Ctx) -> Response:
    """POST /patients: 201, the new patient and its Location."""
    changes = patient_changes(await json_object(ctx.request), creating=True)
    now = ctx.server_now()
    pat_num = await ctx.run(
        ctx.office.store.transact, lambda conn: insert_patient(conn, changes, now)
    )
    response = json_response(await ctx.run(_patient_out, ctx, pat_num), status=201)
    url = ctx.request.url
    response.headers["Location"] = str(url.replace(query="", path=f"{url.path}/{pat_num}"))
    return response


async def patient_update(ctx: Ctx) -> dict[str, Any]:
    """PUT /patients/{PatNum}: 200 and the updated patient."""
    pat_num = ctx.request.path_params["patnum"]
    changes = patient_changes(await json_object(ctx.request), creating=False)
    now = ctx.server_now()
    await ctx.run(
        ctx.office.store.transact, lambda conn: update_patient(conn, pat_num, changes, now)
    )
    return await ctx.run(_patient_out, ctx, pat_num)
