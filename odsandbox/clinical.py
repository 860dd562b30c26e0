"""Resource handlers of the chart and schedule: appointments (read, create, update, confirm),
operatories, procedure logs and codes, a single provider, and the office's computers.

Shapes follow Open Dental's pages (apiappointments, apioperatories, apiprocedurelogs,
apiprocedurecodes, apicomputers) and the live captures in the facts file (section 11): the
appointment field list and its order are the live one, ``serverDateTime`` first.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from odsandbox.practice import (
    APT_STATUS,
    CAT_APPT_CONFIRMED,
    CAT_RECALL_UNSCHED,
    CONFIRM_PREFERENCES,
    NO_DATETIME,
    PRIORITY,
    PROC_STATUS,
    TREAT_AREA,
)
from odsandbox.resources import _enum_value, _int, _provider_json, _stamp, yes_no
from odsandbox.store import OfficeStore, Row
from odsandbox.web import ApiError, date_param

if TYPE_CHECKING:
    from odsandbox.app import Ctx

# --- appointments -------------------------------------------------------------------------

_APT_INT_FILTERS = ("PatNum", "Op", "ClinicNum", "AppointmentTypeNum")
_POST_STATUSES = ("Scheduled", "Complete", "UnschedList", "PtNote", "PtNoteCompleted")
_PUT_STATUSES = (*_POST_STATUSES, "Broken", "Planned")
_MAX_PATTERN = 108  # 9 hours of 5-minute slots; longer patterns are trimmed
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
_TIME = re.compile(r"^\d{2}:\d{2}:\d{2}$")


class _Lookups:
    """Names the derived read-only fields show: provider abbreviations and definitions."""

    def __init__(self, store: OfficeStore) -> None:
        provs = store.fetch("SELECT ProvNum, Abbr FROM provider")
        self.prov_abbr = {r["ProvNum"]: r["Abbr"] for r in provs}
        self.defs = {r["DefNum"]: r for r in store.fetch("SELECT * FROM definition")}

    def def_name(self, def_num: int) -> str:
        row = self.defs.get(def_num)
        return row["ItemName"] if row else ""

    def in_category(self, def_num: int, category: int) -> bool:
        row = self.defs.get(def_num)
        return row is not None and row["Category"] == category


def color_text(value: int) -> str:
    """Open Dental stores colours as ARGB integers; the API shows them as "R,G,B"."""
    return f"{(value >> 16) & 255},{(value >> 8) & 255},{value & 255}"


def appointment_json(r: Row, names: _Lookups, server_now: str | None) -> dict[str, Any]:
    """One appointment with the live field list, in its order (``serverDateTime`` first)."""
    out: dict[str, Any] = {} if server_now is None else {"serverDateTime": server_now}
    out.update(
        {
            "AptNum": r["AptNum"],
            "PatNum": r["PatNum"],
            "AptStatus": APT_STATUS[r["AptStatus"]],
            "Pattern": r["Pattern"],
            "Confirmed": r["Confirmed"],
            "confirmed": names.def_name(r["Confirmed"]),
            "TimeLocked": yes_no(r["TimeLocked"]),
            "Op": r["Op"],
            "Note": r["Note"],
            "ProvNum": r["ProvNum"],
            "provAbbr": names.prov_abbr.get(r["ProvNum"], ""),
            "ProvHyg": r["ProvHyg"],
            "AptDateTime": r["AptDateTime"],
            "NextAptNum": r["NextAptNum"],
            "UnschedStatus": r["UnschedStatus"],
            "unschedStatus": names.def_name(r["UnschedStatus"]),
            "IsNewPatient": yes_no(r["IsNewPatient"]),
            "ProcDescript": r["ProcDescript"],
            "ClinicNum": r["ClinicNum"],
            "IsHygiene": yes_no(r["IsHygiene"]),
            "DateTStamp": r["DateTStamp"],
            "DateTimeArrived": r["DateTimeArrived"],
            "DateTimeSeated": r["DateTimeSeated"],
            "DateTimeDismissed": r["DateTimeDismissed"],
            "InsPlan1": r["InsPlan1"],
            "InsPlan2": r["InsPlan2"],
            "DateTimeAskedToArrive": r["DateTimeAskedToArrive"],
            "colorOverride": color_text(r["ColorOverride"]),
            "AppointmentTypeNum": r["AppointmentTypeNum"],
            "SecUserNumEntry": r["SecUserNumEntry"],
            "SecDateTEntry": r["SecDateTEntry"],
            "Priority": PRIORITY[r["Priority"]],
            "PatternSecondary": r["PatternSecondary"],
            "ItemOrderPlanned": r["ItemOrderPlanned"],
        }
    )
    return out


async def appointments(ctx: Ctx) -> list[dict[str, Any]]:
    """GET /appointments with its filters; every row starts with serverDateTime."""
    limit, offset = ctx.page()
    where, args = _appointment_filters(ctx.params)
    store = ctx.office.store
    rows, names = await ctx.run(_page_with_names, store, where, args, limit, offset)
    now = ctx.server_now()
    return [appointment_json(r, names, now) for r in rows]


def _page_with_names(
    store: OfficeStore, where: str, args: list[object], limit: int, offset: int
) -> tuple[list[Row], _Lookups]:
    """Blocking part of GET /appointments."""
    return store.page("appointment", "AptNum", where, args, limit, offset), _Lookups(store)


def _appointment_filters(params: dict[str, str]) -> tuple[str, list[object]]:
    """WHERE clause (fixed fragments) and values for GET /appointments."""
    where: list[str] = []
    args: list[object] = []
    for name in _APT_INT_FILTERS:
        if name in params:
            where.append(f"{name} = ?")
            args.append(_int(params, name))
    if "AptStatus" in params:
        where.append("AptStatus = ?")
        args.append(_enum_value("AptStatus", params["AptStatus"], APT_STATUS))
    day = date_param(params, "date")
    if day is not None:
        where.append("AptDateTime >= ? AND AptDateTime < ?")
        args.extend((day.isoformat(), (day + timedelta(days=1)).isoformat()))
    start, end = date_param(params, "dateStart"), date_param(params, "dateEnd")
    if start is not None:
        where.append("AptDateTime >= ?")
        args.append(start.isoformat())
    if end is not None:
        where.append("AptDateTime < ?")
        args.append((end + timedelta(days=1)).isoformat())
    if "DateTStamp" in params:
        where.append("DateTStamp >= ?")
        args.append(_stamp(params["DateTStamp"]))
    return " AND ".join(where) or "1 = 1", args


async def appointment(ctx: Ctx) -> dict[str, Any]:
    """GET /appointments/{AptNum}: the same fields plus serverDateTime; 404 when absent."""
    found = await ctx.run(_one_appointment, ctx.office.store, ctx.request.path_params["aptnum"])
    return appointment_json(*found, ctx.server_now())


def _one_appointment(store: OfficeStore, apt_num: int) -> tuple[Row, _Lookups]:
    """The appointment row and the lookups; 404 when it does not exist."""
    rows = store.fetch("SELECT * FROM appointment WHERE AptNum = ?", (apt_num,))
    if not rows:
        raise ApiError(404, "Appointment not found.")
    return rows[0], _Lookups(store)


async def appointment_create(ctx: Ctx) -> Response:
    """POST /appointments: 201, the new appointment and a Location header."""
    body = await json_object(ctx.request)
    apt_num = await ctx.run(_insert_appointment, ctx.office.store, body, ctx.server_now())
    row, names = await ctx.run(_one_appointment, ctx.office.store, apt_num)
    location = f"{str(ctx.request.base_url).rstrip('/')}/api/v1/appointments/{apt_num}"
    return _json(appointment_json(row, names, None), 201, {"Location": location})


async def appointment_update(ctx: Ctx) -> dict[str, Any]:
    """PUT /appointments/{AptNum}: fields left out stay unchanged."""
    body = await json_object(ctx.request)
    apt_num = ctx.request.path_params["aptnum"]
    await ctx.run(_update_appointment, ctx.office.store, apt_num, body, ctx.server_now())
    row, names = await ctx.run(_one_appointment, ctx.office.store, apt_num)
    return appointment_json(row, names, None)


async def appointment_confirm(ctx: Ctx) -> Response:
    """PUT /appointments/{AptNum}/Confirm with exactly one of confirmVal or defNum."""
    body = await json_object(ctx.request)
    apt_num = ctx.request.path_params["aptnum"]
    await ctx.run(_confirm, ctx.office.store, apt_num, body, ctx.server_now())
    return Response(status_code=200)


def _insert_appointment(store: OfficeStore, body: dict[str, Any], now: str) -> int:
    """Validate a POST body against the office's rows and insert the appointment."""
    for name in ("PatNum", "Op", "AptDateTime"):
        if name not in body:
            raise ApiError(400, f"{name} is required.")
    patients = store.fetch("SELECT * FROM patient WHERE PatNum = ?", (_body_int(body, "PatNum"),))
    if not patients:
        raise ApiError(404, "Patient not found.")
    patient = patients[0]
    names = _Lookups(store)
    first_confirmed = min(
        (d for d in names.defs.values() if d["Category"] == CAT_APPT_CONFIRMED),
        key=lambda d: d["ItemOrder"],
    )["DefNum"]
    values: dict[str, object] = {
        "PatNum": patient["PatNum"], "AptStatus": 1, "Pattern": "/XX/",
        "Confirmed": first_confirmed, "TimeLocked": 0, "Note": "", "ProvNum": patient["PriProv"],
        "ProvHyg": 0, "NextAptNum": 0,
        "UnschedStatus": 0, "IsNewPatient": 0, "ProcDescript": "", "IsHygiene": 0,
        "DateTimeArrived": NO_DATETIME, "DateTimeSeated": NO_DATETIME,
        "DateTimeDismissed": NO_DATETIME, "DateTimeAskedToArrive": NO_DATETIME,
        "ColorOverride": 0, "AppointmentTypeNum": 0, "SecUserNumEntry": 0, "SecDateTEntry": now,
        "Priority": 0, "ItemOrderPlanned": 0,
    }  # fmt: skip
    values.update(_appointment_changes(store, names, body, _POST_STATUSES, None))
    if "ClinicNum" not in values:
        op = store.fetch("SELECT ClinicNum FROM operatory WHERE OperatoryNum = ?", (values["Op"],))
        values["ClinicNum"] = op[0]["ClinicNum"] or patient["ClinicNum"]
    values.setdefault("PatternSecondary", "/" * len(str(values["Pattern"])))
    plans = _patient_plans(store, patient["PatNum"])
    values.update({"InsPlan1": plans[0], "InsPlan2": plans[1], "DateTStamp": now})
    columns = ", ".join(values)
    marks = ", ".join("?" * len(values))
    sql = f"INSERT INTO appointment ({columns}) VALUES ({marks})"  # noqa: S608 - column names are ours
    return store.insert(sql, tuple(values.values()))


def _update_appointment(store: OfficeStore, apt_num: int, body: dict[str, Any], now: str) -> None:
    """Apply a PUT body; a Complete status completes the attached procedures too."""
    current, names = _one_appointment(store, apt_num)
    changes = _appointment_changes(store, names, body, _PUT_STATUSES, current)
    if not changes:
        raise ApiError(400, "No fields to update.")
    changes["DateTStamp"] = now
    assignments = ", ".join(f"{c} = ?" for c in changes)
    sql = f"UPDATE appointment SET {assignments} WHERE AptNum = ?"  # noqa: S608 - column names are ours
    store.write(sql, (*changes.values(), apt_num))
    if changes.get("AptStatus") == APT_STATUS.index("Complete"):
        day = str(changes.get("AptDateTime", current["AptDateTime"]))[:10]
        store.write(
            "UPDATE procedurelog SET ProcStatus = 2, ProcDate = ?, DateEntryC = ?, DateTStamp = ? "
            "WHERE AptNum = ? AND ProcStatus = 1",
            (day, day, now, apt_num),
        )


def _appointment_changes(
    store: OfficeStore,
    names: _Lookups,
    body: dict[str, Any],
    statuses: tuple[str, ...],
    current: Row | None,
) -> dict[str, object]:
    """Column values for the fields present in a POST/PUT body, validated (400 with reason)."""
    out: dict[str, object] = {}
    if "AptStatus" in body:
        label = str(body["AptStatus"])
        if label not in statuses:
            raise ApiError(400, f"AptStatus must be one of: {', '.join(statuses)}.")
        out["AptStatus"] = APT_STATUS.index(label)
    if "AptDateTime" in body:
        text = str(body["AptDateTime"])
        if not _DATETIME.match(text) or not _valid_datetime(text):
            raise ApiError(400, "AptDateTime must be in yyyy-MM-dd HH:mm:ss format.")
        out["AptDateTime"] = text
    if "Op" in body:
        op = _body_int(body, "Op")
        if not store.fetch("SELECT 1 FROM operatory WHERE OperatoryNum = ?", (op,)):
            raise ApiError(400, "Op is invalid.")
        out["Op"] = op
    _patterns(body, out, current)
    _references(store, names, body, out)
    for name in ("IsHygiene", "IsNewPatient"):
        if name in body:
            out[name] = _body_bool(body, name)
    if "Note" in body:
        out["Note"] = str(body["Note"])
    if "Priority" in body:
        if body["Priority"] not in PRIORITY:
            raise ApiError(400, "Priority must be Normal or ASAP.")
        out["Priority"] = PRIORITY.index(body["Priority"])
    if "colorOverride" in body:
        out["ColorOverride"] = _color_value(str(body["colorOverride"]))
    day = str(out.get("AptDateTime") or (current["AptDateTime"] if current else ""))[:10]
    for name in ("DateTimeArrived", "DateTimeSeated", "DateTimeDismissed"):
        if name in body:
            if not _TIME.match(str(body[name])):
                raise ApiError(400, f"{name} must be in HH:mm:ss format.")
            out[name] = f"{day} {body[name]}"
    return out


def _patterns(body: dict[str, Any], out: dict[str, object], current: Row | None) -> None:
    """Pattern ('X' and '/', trimmed to 9 hours) and PatternSecondary (the same length)."""
    if "Pattern" in body:
        pattern = str(body["Pattern"])
        if not pattern or set(pattern) - {"X", "/"}:
            raise ApiError(400, "Pattern must consist of 'X' and '/' characters only.")
        out["Pattern"] = pattern[:_MAX_PATTERN]
    if "PatternSecondary" in body:
        secondary = str(body["PatternSecondary"])
        length = len(str(out.get("Pattern") or (current["Pattern"] if current else "/XX/")))
        if set(secondary) - {"X", "/"} or len(secondary) != length:
            raise ApiError(400, "PatternSecondary must match the length of Pattern.")
        out["PatternSecondary"] = secondary
    elif "Pattern" in body:
        out["PatternSecondary"] = "/" * len(str(out["Pattern"]))


def _references(
    store: OfficeStore, names: _Lookups, body: dict[str, Any], out: dict[str, object]
) -> None:
    """Foreign keys in the body: providers, clinic, confirmation and unscheduled statuses."""
    for name in ("ProvNum", "ProvHyg"):
        if name in body:
            prov = _body_int(body, name)
            if (prov or name == "ProvNum") and prov not in names.prov_abbr:
                raise ApiError(400, f"{name} is invalid.")
            out[name] = prov
    if "ClinicNum" in body:
        clinic = _body_int(body, "ClinicNum")
        if clinic and not store.fetch("SELECT 1 FROM clinic WHERE ClinicNum = ?", (clinic,)):
            raise ApiError(400, "ClinicNum is invalid.")
        out["ClinicNum"] = clinic
    if "Confirmed" in body:
        out["Confirmed"] = _definition(names, body, "Confirmed", CAT_APPT_CONFIRMED)
    if "UnschedStatus" in body:
        unsched = _body_int(body, "UnschedStatus")
        out["UnschedStatus"] = unsched and _definition(
            names, body, "UnschedStatus", CAT_RECALL_UNSCHED
        )
    for name in ("AppointmentTypeNum", "SecUserNumEntry"):
        if name in body:
            out[name] = _body_int(body, name)


def _definition(names: _Lookups, body: dict[str, Any], name: str, category: int) -> int:
    """A DefNum of the given definition category, 400 otherwise."""
    def_num = _body_int(body, name)
    if not names.in_category(def_num, category):
        raise ApiError(400, f"{name} must be a definition.DefNum where Category={category}.")
    return def_num


def _confirm(store: OfficeStore, apt_num: int, body: dict[str, Any], now: str) -> None:
    """PUT Confirm: confirmVal maps onto the office's eConfirm preferences, defNum is direct."""
    _row, names = _one_appointment(store, apt_num)
    if len(body) != 1 or next(iter(body)) not in ("confirmVal", "defNum"):
        raise ApiError(400, "Exactly one field is allowed: confirmVal or defNum.")
    if "defNum" in body:
        def_num = _definition(names, body, "defNum", CAT_APPT_CONFIRMED)
    else:
        def_num = _confirm_value(store, names, str(body["confirmVal"]))
    store.write(
        "UPDATE appointment SET Confirmed = ?, DateTStamp = ? WHERE AptNum = ?",
        (def_num, now, apt_num),
    )


def _confirm_value(store: OfficeStore, names: _Lookups, value: str) -> int:
    """The DefNum behind a confirmVal ("None" is the first Appt Confirmed definition)."""
    if value == "None":
        confirmed = [d for d in names.defs.values() if d["Category"] == CAT_APPT_CONFIRMED]
        return min(confirmed, key=lambda d: d["ItemOrder"])["DefNum"]
    pref = {label: pref for label, pref, _num in CONFIRM_PREFERENCES}.get(value)
    if pref is None:
        raise ApiError(
            400, 'confirmVal must be "None", "Sent", "Confirmed", "Not Accepted", or "Failed".'
        )
    rows = store.fetch("SELECT ValueString FROM preference WHERE PrefName = ?", (pref,))
    return int(rows[0]["ValueString"])


def _patient_plans(store: OfficeStore, pat_num: int) -> tuple[int, int]:
    """PlanNums of the patient's primary and secondary coverage (0 when none)."""
    rows = store.fetch(
        "SELECT inssub.PlanNum FROM patplan JOIN inssub ON inssub.InsSubNum = patplan.InsSubNum "
        "WHERE patplan.PatNum = ? ORDER BY patplan.Ordinal",
        (pat_num,),
    )
    plans = [r["PlanNum"] for r in rows] + [0, 0]
    return plans[0], plans[1]


async def json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object; 400 otherwise."""
    try:
        body = json.loads(await request.body() or b"null")
    except json.JSONDecodeError:
        raise ApiError(400, "Request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ApiError(400, "Request body must be a JSON object.")
    return body


def _body_int(body: dict[str, Any], name: str) -> int:
    """An integer body field (a JSON number or a numeric string); 400 otherwise."""
    value = body[name]
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ApiError(400, f"{name} is invalid.")
    try:
        return int(value)
    except ValueError:
        raise ApiError(400, f"{name} is invalid.") from None


def _body_bool(body: dict[str, Any], name: str) -> int:
    """A string boolean body field ("true"/"false"); 400 otherwise."""
    value = str(body[name]).lower()
    if value not in ("true", "false"):
        raise ApiError(400, f'{name} must be "true" or "false".')
    return int(value == "true")


def _color_value(text: str) -> int:
    """An "R,G,B" colour as the integer Open Dental stores."""
    parts = text.split(",")
    try:
        r, g, b = (int(p) for p in parts)
    except ValueError:
        raise ApiError(400, 'colorOverride must be in "R,G,B" format.') from None
    if not all(0 <= x <= 255 for x in (r, g, b)):
        raise ApiError(400, 'colorOverride must be in "R,G,B" format.')
    return (r << 16) | (g << 8) | b


def _valid_datetime(text: str) -> bool:
    try:
        datetime.strptime(text, "%Y-%m-%d %H:%M:%S")  # noqa: DTZ007 - office-local, no zone
    except ValueError:
        return False
    return True


def _json(data: Any, status: int, headers: dict[str, str]) -> Response:
    """A JSON response with extra headers (Location on POST)."""
    body = json.dumps(data, ensure_ascii=False).encode()
    return Response(body, status, headers, media_type="application/json; charset=utf-8")


# --- operatories, procedures, providers, computers -----------------------------------------


async def operatories(ctx: Ctx) -> list[dict[str, Any]]:
    """GET /operatories (optional ClinicNum), hidden chairs included."""
    limit, offset = ctx.page()
    where, args = "1 = 1", []
    if "ClinicNum" in ctx.params:
        where, args = "ClinicNum = ?", [_int(ctx.params, "ClinicNum")]
    store = ctx.office.store
    rows = await ctx.run(store.page, "operatory", "OperatoryNum", where, args, limit, offset)
    return [operatory_json(r) for r in rows]


def operatory_json(r: Row) -> dict[str, Any]:
    """One operatory as the live API shows it."""
    return {
        "OperatoryNum": r["OperatoryNum"],
        "OpName": r["OpName"],
        "Abbrev": r["Abbrev"],
        "ItemOrder": r["ItemOrder"],
        "IsHidden": yes_no(r["IsHidden"]),
        "ProvDentist": r["ProvDentist"],
        "ProvHygienist": r["ProvHygienist"],
        "IsHygiene": yes_no(r["IsHygiene"]),
        "ClinicNum": r["ClinicNum"],
        "SetProspective": yes_no(r["SetProspective"]),
        "IsWebSched": yes_no(r["IsWebSched"]),
        "OperatoryType": r["OperatoryType"],
        "operatoryType": "",
    }


_PROC_INT_FILTERS = ("PatNum", "AptNum", "PlannedAptNum", "ClinicNum", "CodeNum")


async def procedurelogs(ctx: Ctx) -> list[dict[str, Any]]:
    """GET /procedurelogs with its filters, serverDateTime last as the doc shows it."""
    limit, offset = ctx.page()
    where: list[str] = []
    args: list[object] = []
    for name in _PROC_INT_FILTERS:
        if name in ctx.params:
            where.append(f"{name} = ?")
            args.append(_int(ctx.params, name))
    if "ProcStatus" in ctx.params:
        where.append("ProcStatus = ?")
        args.append(_enum_value("ProcStatus", ctx.params["ProcStatus"], PROC_STATUS[1:]) + 1)
    if "DateTStamp" in ctx.params:
        where.append("DateTStamp >= ?")
        args.append(_stamp(ctx.params["DateTStamp"]))
    clause = " AND ".join(where) or "1 = 1"
    rows, names, codes = await ctx.run(
        _procedure_page, ctx.office.store, clause, args, limit, offset
    )
    now = ctx.server_now()
    return [_procedure_json(r, names, codes, now) for r in rows]


def _procedure_page(
    store: OfficeStore, where: str, args: list[object], limit: int, offset: int
) -> tuple[list[Row], _Lookups, dict[int, Row]]:
    """Blocking part of GET /procedurelogs: the page, lookups and procedure codes."""
    rows = store.page("procedurelog", "ProcNum", where, args, limit, offset)
    codes = {r["CodeNum"]: r for r in store.fetch("SELECT * FROM procedurecode")}
    return rows, _Lookups(store), codes


def _procedure_json(
    r: Row, names: _Lookups, codes: dict[int, Row], server_now: str
) -> dict[str, Any]:
    """One procedure in the apiprocedurelogs shape (ProcFee a string with two decimals)."""
    code = codes.get(r["CodeNum"], {})
    return {
        "ProcNum": r["ProcNum"], "PatNum": r["PatNum"], "AptNum": r["AptNum"],
        "ProcDate": r["ProcDate"], "ProcFee": f"{r['ProcFee']:.2f}", "Surf": r["Surf"],
        "ToothNum": r["ToothNum"], "ToothRange": r["ToothRange"], "Priority": r["Priority"],
        "priority": names.def_name(r["Priority"]), "ProcStatus": PROC_STATUS[r["ProcStatus"]],
        "ProvNum": r["ProvNum"], "provAbbr": names.prov_abbr.get(r["ProvNum"], ""),
        "Dx": r["Dx"], "dxName": names.def_name(r["Dx"]), "PlannedAptNum": r["PlannedAptNum"],
        "PlaceService": "Office", "Prosthesis": r["Prosthesis"],
        "DateOriginalProsth": r["DateOriginalProsth"], "ClaimNote": r["ClaimNote"],
        "DateEntryC": r["DateEntryC"], "ClinicNum": r["ClinicNum"], "CodeNum": r["CodeNum"],
        "procCode": code.get("ProcCode", ""), "descript": code.get("Descript", ""),
        "UnitQty": r["UnitQty"], "BaseUnits": r["BaseUnits"], "DateTP": r["DateTP"],
        "SiteNum": r["SiteNum"], "HideGraphics": yes_no(r["HideGraphics"]),
        "CanadianTypeCodes": r["CanadianTypeCodes"], "ProcTime": r["ProcTime"],
        "ProcTimeEnd": r["ProcTimeEnd"], "DateTStamp": r["DateTStamp"],
        "Prognosis": r["Prognosis"], "IsLocked": yes_no(r["IsLocked"]),
        "BillingNote": r["BillingNote"], "Discount": r["Discount"],
        "IsDateProsthEst": yes_no(r["IsDateProsthEst"]), "SecDateEntry": r["SecDateEntry"],
        "serverDateTime": server_now,
    }  # fmt: skip


async def procedurecodes(ctx: Ctx) -> list[dict[str, Any]]:
    """GET /procedurecodes (optional DateTStamp, on or after)."""
    limit, offset = ctx.page()
    where, args = "1 = 1", []
    if "DateTStamp" in ctx.params:
        where, args = "DateTStamp >= ?", [_stamp(ctx.params["DateTStamp"])]
    store = ctx.office.store
    rows, names = await ctx.run(_code_page, store, where, args, limit, offset)
    return [_code_json(r, names) for r in rows]


def _code_page(
    store: OfficeStore, where: str, args: list[object], limit: int, offset: int
) -> tuple[list[Row], _Lookups]:
    return store.page("procedurecode", "CodeNum", where, args, limit, offset), _Lookups(store)


def _code_json(r: Row, names: _Lookups) -> dict[str, Any]:
    """One procedure code in the apiprocedurecodes shape."""
    return {
        "CodeNum": r["CodeNum"], "ProcCode": r["ProcCode"], "Descript": r["Descript"],
        "AbbrDesc": r["AbbrDesc"], "ProcTime": r["ProcTime"], "ProcCat": r["ProcCat"],
        "procCat": names.def_name(r["ProcCat"]), "TreatArea": TREAT_AREA[r["TreatArea"]],
        "NoBillIns": yes_no(r["NoBillIns"]), "IsProsth": yes_no(r["IsProsth"]),
        "DefaultNote": r["DefaultNote"], "IsHygiene": yes_no(r["IsHygiene"]),
        "AlternateCode1": "", "MedicalCode": "", "IsTaxed": "false", "PaintType": "None",
        "LaymanTerm": r["LaymanTerm"], "IsCanadianLab": "false", "BaseUnits": 0,
        "SubstitutionCode": r["SubstitutionCode"], "SubstOnlyIf": "Always",
        "DateTStamp": r["DateTStamp"], "DrugNDC": "", "RevenueCodeDefault": "",
        "ProvNumDefault": r["ProvNumDefault"], "CanadaTimeUnits": 0.0,
        "IsRadiology": yes_no(r["IsRadiology"]), "DefaultClaimNote": "", "DefaultTPNote": "",
        "PaintText": "", "AreaAlsoToothRange": "false", "DiagnosticCodes": "",
    }  # fmt: skip


async def provider(ctx: Ctx) -> dict[str, Any]:
    """GET /providers/{ProvNum}: one provider with serverDateTime; 404 when absent."""
    prov_num = ctx.request.path_params["provnum"]
    sql = "SELECT * FROM provider WHERE ProvNum = ?"
    rows = await ctx.run(ctx.office.store.fetch, sql, (prov_num,))
    if not rows:
        raise ApiError(404, "Provider not found.")
    return _provider_json(rows[0], ctx.server_now())


async def computers(ctx: Ctx) -> list[dict[str, Any]]:
    """GET /computers: running workstations beat every few seconds, unless the office is down.

    While the eConnector-down fault is on, no heartbeat reaches the database: every
    LastHeartBeat stays where it was when the fault started.
    """
    limit, offset = ctx.page()
    store = ctx.office.store
    rows = await ctx.run(store.page, "computer", "ComputerNum", "1 = 1", (), limit, offset)
    down_since = (
        ctx.office.faults.econnector_down_since if ctx.office.faults.econnector_down else None
    )
    clock = down_since or datetime.now().replace(microsecond=0)
    running_after = (store.params.today - timedelta(days=1)).isoformat()
    out = []
    for r in rows:
        beat = r["LastHeartBeat"]
        if beat >= running_after:  # a running workstation: it beat a few seconds ago
            beat = (clock - timedelta(seconds=r["ComputerNum"] * 3 % 20)).isoformat(" ")
        out.append(
            {"ComputerNum": r["ComputerNum"], "CompName": r["CompName"], "LastHeartBeat": beat}
        )
    return out
