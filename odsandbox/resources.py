"""Resource handlers: turn SQLite rows into Open Dental's JSON shapes.

Formats follow the API docs: PascalCase DB names, enums as labels, booleans as the strings
"true"/"false", dates "yyyy-MM-dd", datetimes "yyyy-MM-dd HH:mm:ss", "0001-01-01" for no value,
money as JSON numbers; derived read-only fields are lower camel case (``priProvAbbr``).
"""

from __future__ import annotations

import asyncio
import json
from datetime import date
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from odsandbox.config import ALL_PERMISSIONS
from odsandbox.data import BILLING_TYPES, CONTACT_METHOD, GENDER, PAT_STATUS, POSITION, YN
from odsandbox.shortquery import QueryError, QueryNotReadOnly, QueryTimeout
from odsandbox.state import AuthError, SandboxState
from odsandbox.store import AGING_COLUMNS, OfficeStore, Row
from odsandbox.web import (
    ApiError,
    check_content_type,
    date_param,
    int_param,
    json_response,
    parse_authorization,
)

if TYPE_CHECKING:
    from odsandbox.app import Ctx

_CLINIC_FIELDS = (
    "ClinicNum",
    "Description",
    "Address",
    "Address2",
    "City",
    "State",
    "Zip",
    "BillingAddress",
    "BillingAddress2",
    "BillingCity",
    "BillingState",
    "BillingZip",
    "PayToAddress",
    "PayToAddress2",
    "PayToCity",
    "PayToState",
    "PayToZip",
    "Phone",
    "Abbr",
)
_PATIENT_TEXT_FIELDS = (
    "LName",
    "FName",
    "MiddleI",
    "Preferred",
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
    "Email",
    "ImageFolder",
    "FamFinUrgNote",
    "ChartNumber",
    "MedicaidID",
    "DateFirstVisit",
    "Ward",
    "Language",
    "AdmitDate",
    "DateTStamp",
    "SecDateEntry",
)
_ENUM_FILTERS = {"PatStatus": PAT_STATUS, "Gender": GENDER, "Position": POSITION}
_INT_FILTERS = ("ClinicNum", "PriProv", "Guarantor", "SuperFamily", "EmployerNum", "FeeSched")


def _api_error(status: int, text: str) -> ApiError:
    """A plain-text API error."""
    return ApiError(status, text)


def yes_no(value: object) -> str:
    """Open Dental's string booleans."""
    return "true" if value else "false"


async def securityperms(ctx: Ctx) -> list[dict[str, str]]:
    """GET /securityperms: every API permission with a string boolean."""
    held = set(ctx.office.permissions)
    return [{"Permission": p, "HasPermission": yes_no(p in held)} for p in ALL_PERMISSIONS]


async def preferences(ctx: Ctx) -> list[dict[str, Any]]:
    """GET /preferences (optional exact PrefName)."""
    limit, offset = ctx.page()
    where, args = "1 = 1", ()
    if "PrefName" in ctx.params:
        where, args = "PrefName = ? COLLATE NOCASE", (ctx.params["PrefName"],)
    rows = await ctx.run(ctx.office.store.page, "preference", "PrefNum", where, args, limit, offset)
    return [
        {"PrefNum": r["PrefNum"], "PrefName": r["PrefName"], "ValueString": r["ValueString"]}
        for r in rows
    ]


async def clinics(ctx: Ctx) -> list[dict[str, Any]]:
    """GET /clinics: non-hidden clinics; [] when the office does not use clinics."""
    limit, offset = ctx.page()
    rows = await ctx.run(
        ctx.office.store.page, "clinic", "ClinicNum", "IsHidden = 0", (), limit, offset
    )
    return [{**{f: r[f] for f in _CLINIC_FIELDS}, "IsHidden": yes_no(r["IsHidden"])} for r in rows]


async def providers(ctx: Ctx) -> list[dict[str, Any]]:
    """GET /providers (ClinicNum and/or DateTStamp).

    With ClinicNum: the non-hidden providers not restricted to a clinic (no providerclinic
    rows) or restricted to that one; 404 for an unknown clinic; serverDateTime is "" (the
    doc's example). Without: every provider, each row with the server's time.
    """
    limit, offset = ctx.page()
    where, args = ["1 = 1"], []
    clinic = _int(ctx.params, "ClinicNum") if "ClinicNum" in ctx.params else None
    if clinic is not None:
        where.append(
            "IsHidden = 0 AND (ProvNum NOT IN (SELECT ProvNum FROM providerclinic) "
            "OR ProvNum IN (SELECT ProvNum FROM providerclinic WHERE ClinicNum = ?))"
        )
        args.append(clinic)
    if "DateTStamp" in ctx.params:
        where.append("DateTStamp >= ?")
        args.append(_stamp(ctx.params["DateTStamp"]))
    rows = await ctx.run(_provider_page, ctx, clinic, " AND ".join(where), args, limit, offset)
    now = "" if clinic is not None else ctx.server_now()
    return [_provider_json(r, now) for r in rows]


def _provider_page(
    ctx: Ctx, clinic: int | None, where: str, args: list[object], limit: int, offset: int
) -> list[Row]:
    """Blocking part of GET /providers; ClinicNum 0 (no clinic) always exists [I]."""
    store = ctx.office.store
    if clinic and not store.fetch("SELECT 1 FROM clinic WHERE ClinicNum = ?", (clinic,)):
        raise _api_error(404, "Clinic not found.")
    return store.page("provider", "ProvNum", where, args, limit, offset)


def provider_color(argb: int) -> str:
    """Open Dental's provColor: the stored .NET ARGB integer as "R,G,B"."""
    return f"{(argb >> 16) & 255},{(argb >> 8) & 255},{argb & 255}"


def _provider_json(r: Row, server_now: str | None) -> dict[str, Any]:
    """One provider in the API's shape and field order (apiproviders.html); ``server_now``
    None leaves serverDateTime out."""
    out = {
        "ProvNum": r["ProvNum"],
        "Abbr": r["Abbr"],
        "LName": r["LName"],
        "FName": r["FName"],
        "MI": r["MI"],
        "Suffix": r["Suffix"],
        "FeeSched": r["FeeSched"],
        "Specialty": r["Specialty"],
        "SSN": r["SSN"],
        "StateLicense": r["StateLicense"],
        "IsSecondary": yes_no(r["IsSecondary"]),
        "provColor": provider_color(r["ProvColor"]),
        "IsHidden": yes_no(r["IsHidden"]),
        "UsingTIN": yes_no(r["UsingTIN"]),
        "SigOnFile": yes_no(r["SigOnFile"]),
        "NationalProvID": r["NationalProvID"],
        "DateTStamp": r["DateTStamp"],
        "IsNotPerson": yes_no(r["IsNotPerson"]),
        "ProvStatus": "Deleted" if r["ProvStatus"] else "Active",
        "IsHiddenReport": yes_no(r["IsHiddenReport"]),
        "Birthdate": r["Birthdate"],
        "SchedNote": r["SchedNote"],
        "PreferredName": r["PreferredName"],
    }
    if server_now is not None:
        out["serverDateTime"] = server_now
    return out


async def patients_simple(ctx: Ctx) -> list[dict[str, Any]]:
    """GET /patients/Simple with its filters; each row carries serverDateTime."""
    limit, offset = ctx.page()
    where, args = _patient_filters(ctx.params)
    rows, lookups = await ctx.run(_patient_page, ctx, where, args, limit, offset)
    now = ctx.server_now()
    return [{**patient_json(r, *lookups), "serverDateTime": now} for r in rows]


def _patient_page(ctx: Ctx, where: str, args: list[object], limit: int, offset: int) -> Any:
    """Blocking part of patients/Simple: the page plus provider/clinic abbreviations."""
    store = ctx.office.store
    rows = store.page("patient", "PatNum", where, args, limit, offset)
    return rows, _lookups(ctx)


def _lookups(ctx: Ctx) -> tuple[dict[int, str], dict[int, str]]:
    """Provider and clinic abbreviations by number (small tables)."""
    return abbreviations(ctx.office.store)


def abbreviations(store: OfficeStore) -> tuple[dict[int, str], dict[int, str]]:
    """Provider and clinic abbreviations by number, for ``patient_json`` (blocking)."""
    provs = {r["ProvNum"]: r["Abbr"] for r in store.fetch("SELECT ProvNum, Abbr FROM provider")}
    clinic_rows = store.fetch("SELECT ClinicNum, Abbr FROM clinic")
    return provs, {r["ClinicNum"]: r["Abbr"] for r in clinic_rows}


def _patient_filters(params: dict[str, str]) -> tuple[str, list[object]]:
    """SQL WHERE clause (fixed fragments only) and bound values for patients/Simple."""
    where: list[str] = []
    args: list[object] = []
    for name in ("LName", "FName"):
        if name in params:
            where.append(f"{name} LIKE ? ESCAPE '\\'")
            args.append("%" + params[name].replace("%", "\\%").replace("_", "\\_") + "%")
    if params.get("PatStatus", "").lower() == "deleted":
        raise _api_error(400, "'Deleted' is not a valid PatStatus.")
    for name, labels in _ENUM_FILTERS.items():
        if name in params:
            where.append(f"{name} = ?")
            args.append(_enum_value(name, params[name], labels))
    for name in _INT_FILTERS:
        if name in params:
            where.append(f"{name} = ?")
            args.append(_int(params, name))
    if "Birthdate" in params:
        where.append("Birthdate = ?")
        args.append(_date(params, "Birthdate").isoformat())
    if "DateTStamp" in params:
        where.append("DateTStamp >= ?")
        args.append(_stamp(params["DateTStamp"]))
    where.append("PatStatus <> 4")  # deleted patients are never listed
    return " AND ".join(where) or "1 = 1", args


def patient_json(r: Row, provs: dict[int, str], clinic_abbrs: dict[int, str]) -> dict[str, Any]:
    """A patient row in the API's shape (the aging buckets are not part of it)."""
    out: dict[str, Any] = {"PatNum": r["PatNum"]}
    out.update({f: r[f] for f in _PATIENT_TEXT_FIELDS[:4]})
    out.update(
        {
            "PatStatus": PAT_STATUS[r["PatStatus"]],
            "Gender": GENDER[r["Gender"]],
            "Position": POSITION[r["Position"]],
        }
    )
    out.update({f: r[f] for f in _PATIENT_TEXT_FIELDS[4:14]})
    out.update(
        {
            "Guarantor": r["Guarantor"],
            "Email": r["Email"],
            "EstBalance": r["EstBalance"],
            "PriProv": r["PriProv"],
            "priProvAbbr": provs.get(r["PriProv"], ""),
            "SecProv": r["SecProv"],
            "secProvAbbr": provs.get(r["SecProv"], ""),
            "FeeSched": r["FeeSched"],
            "BillingType": BILLING_TYPES.get(r["BillingType"], ""),
            "ImageFolder": r["ImageFolder"],
            "FamFinUrgNote": r["FamFinUrgNote"],
            "ChartNumber": r["ChartNumber"],
            "MedicaidID": r["MedicaidID"],
            "BalTotal": r["BalTotal"],
            "EmployerNum": r["EmployerNum"],
            "DateFirstVisit": r["DateFirstVisit"],
            "ClinicNum": r["ClinicNum"],
            "clinicAbbr": clinic_abbrs.get(r["ClinicNum"], ""),
            "Premed": yes_no(r["Premed"]),
            "Ward": r["Ward"],
            "PreferConfirmMethod": CONTACT_METHOD[r["PreferConfirmMethod"]],
            "PreferContactMethod": CONTACT_METHOD[r["PreferContactMethod"]],
            "PreferRecallMethod": CONTACT_METHOD[r["PreferRecallMethod"]],
            "Language": r["Language"],
            "AdmitDate": r["AdmitDate"],
            "siteDesc": "",
            "DateTStamp": r["DateTStamp"],
            "SuperFamily": r["SuperFamily"],
            "TxtMsgOk": YN[r["TxtMsgOk"]],
            "SecDateEntry": r["SecDateEntry"][:10],
        }
    )
    return out


async def patient(ctx: Ctx) -> dict[str, Any]:
    """GET /patients/{PatNum}: the full patient, 404 when absent."""
    pat_num = ctx.request.path_params["patnum"]
    rows, lookups = await ctx.run(_one_patient, ctx, pat_num)
    if not rows:
        raise _api_error(404, "Patient not found.")
    return patient_json(rows[0], *lookups)


def _one_patient(ctx: Ctx, pat_num: int) -> Any:
    """Blocking part of GET /patients/{PatNum}."""
    rows = ctx.office.store.fetch("SELECT * FROM patient WHERE PatNum = ?", (pat_num,))
    return rows, _lookups(ctx)


async def account_aging(ctx: Ctx) -> dict[str, float]:
    """GET /accountmodules/{PatNum}/Aging: the family's aging as the Account module shows it."""
    pat_num = ctx.request.path_params["patnum"]
    family = await ctx.run(ctx.office.store.family_rows, pat_num)
    me = next((r for r in family if r["PatNum"] == pat_num), None)
    if me is None:
        raise _api_error(404, "Patient not found.")
    if me["PatStatus"] == PAT_STATUS.index("Deleted"):
        raise _api_error(400, "Patient is deleted.")
    guarantor = family[0]
    total = guarantor["BalTotal"]
    return {
        **{c: guarantor[c] for c in AGING_COLUMNS},
        "Total": total,
        "InsEst": guarantor["InsEst"],
        "EstBal": round(total - guarantor["InsEst"], 2),
        "PatEstBal": me["EstBalance"],
        "Unearned": 0.0,
    }


async def report_aging(ctx: Ctx) -> list[dict[str, Any]]:
    """GET /reports/Aging: guarantors with a balance as of DateAsOf (default today)."""
    limit, offset = ctx.page()
    as_of = _date(ctx.params, "DateAsOf") if "DateAsOf" in ctx.params else None
    clinic = _int(ctx.params, "ClinicNum") if "ClinicNum" in ctx.params else None
    rows = await ctx.run(ctx.office.store.nonzero_guarantors, clinic)
    months = _months_back(ctx.office.store.params.today, as_of)
    report = [item for r in rows if (item := _report_row(r, months)) is not None]
    return report[offset : offset + limit]


def _months_back(today: date, as_of: date | None) -> int:
    """Whole 30-day periods between DateAsOf and today (negative for future dates)."""
    if as_of is None:
        return 0
    return int((today - as_of).days / 30)


def shift_buckets(buckets: tuple[float, ...], months: int) -> tuple[float, ...]:
    """Move aging buckets ``months`` 30-day periods back in time (or forward if negative).

    Back: today's 0-30 charges did not exist yet, 31-60 was 0-30, and so on; half of >90 was
    61-90. Forward: everything ages one bucket per period. Credits (negative 0-30) stay put.
    """
    b = list(buckets)
    for _ in range(abs(months)):
        credit = min(b[0], 0.0)
        if months > 0:
            half = round(b[3] / 2, 2)
            b = [max(b[1], 0.0) + credit, b[2], half, round(b[3] - half, 2)]
        else:
            b = [credit, max(b[0], 0.0), b[1], round(b[2] + b[3], 2)]
    return tuple(round(x, 2) for x in b)


def _report_row(r: Row, months: int) -> dict[str, Any] | None:
    """One report line, or None when the family owes nothing as of that date."""
    buckets = shift_buckets(tuple(r[c] for c in AGING_COLUMNS), months)
    total = round(sum(buckets), 2)
    ins = r["InsEst"] if months == 0 else round(min(r["InsEst"], max(total, 0.0)), 2)
    if total == 0 and ins == 0 and not any(buckets):
        return None
    return {
        "PatNum": r["PatNum"],
        "patName": f"{r['LName']}, {r['FName']}",
        **dict(zip(AGING_COLUMNS, buckets, strict=True)),
        "BalTotal": total,
        "InsWoEst": 0.0,
        "InsPayEst": ins,
        "PatientPortion": round(total - ins, 2),
    }


async def short_query(ctx: Ctx) -> list[dict[str, Any]]:
    """PUT /queries/ShortQuery: read-only SQL, one page of rows keyed as written."""
    limit, offset = ctx.page()
    sql = await _sql_command(ctx.request)
    timeout = ctx.state.config.request_timeout_s
    try:
        return await ctx.run(ctx.office.store.short_query, sql, offset, limit, timeout)
    except QueryNotReadOnly:
        raise _api_error(401, "Query is not read-only.") from None
    except QueryError as exc:
        raise _api_error(400, f"Error in SQL: {exc}") from None
    except QueryTimeout:
        raise _api_error(504, "Gateway Time-out") from None


async def _sql_command(request: Request) -> str:
    """SqlCommand from the JSON body; 400 when missing."""
    try:
        body = json.loads(await request.body() or b"{}")
    except json.JSONDecodeError:
        raise _api_error(400, "Request body is not valid JSON.") from None
    sql = body.get("SqlCommand") if isinstance(body, dict) else None
    if not isinstance(sql, str) or not sql.strip():
        raise _api_error(400, "SqlCommand is required.")
    return sql


async def portal(request: Request) -> Response:
    """Developer Portal /apikeys (GET list, POST create, PUT status/DevRefId) with the portal
    key; the portal's own faults (``SandboxState.portal_faults``) apply after the key check."""
    state = request.app.state.sandbox
    try:
        check_content_type(request, state.config.strict_content_type)
        dev, portal_key = parse_authorization(request)
        _portal_auth(state, dev, portal_key)
        state.portal_requests[request.method] += 1  # authenticated portal calls, by method
        fault = await _portal_fault(state)
        if fault is not None:
            return fault
        if request.method == "GET":
            return json_response([r.portal_json() for r in state.developer_keys()])
        body = await _portal_body(request)
        if request.method == "POST":
            dev_ref_id = _optional_text(body, "DevRefId")
            return json_response(state.create_key(dev_ref_id or "").portal_json(), status=201)
        return json_response(_portal_put(body, state))
    except ApiError as exc:
        return exc.response()


def _portal_auth(state: SandboxState, dev: str, portal_key: str) -> None:
    """401 unless the developer and portal keys match."""
    try:
        state.check_portal(dev, portal_key)
    except AuthError as exc:
        raise _api_error(401, str(exc)) from None


async def _portal_fault(state: SandboxState) -> Response | None:
    """The injected portal fault's response (500 or a timeout's 504), if any."""
    faults = state.portal_faults
    if faults.latency_ms:
        await asyncio.sleep(faults.latency_ms / 1000)
    fault = faults.active_response_fault()
    if fault == "status_500":
        return PlainTextResponse("An unexpected error has occurred.", status_code=500)
    if fault == "timeout":
        if not faults.timeout_immediate:
            await asyncio.sleep(state.config.request_timeout_s)
        return PlainTextResponse("Gateway Time-out", status_code=504)
    return None


async def _portal_body(request: Request) -> dict[str, Any]:
    """The JSON object body of a POST or PUT (empty when absent)."""
    try:
        body = json.loads(await request.body() or b"{}")
    except json.JSONDecodeError:
        raise _api_error(400, "Request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise _api_error(400, "Request body must be a JSON object.")
    return body


def _optional_text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise _api_error(400, f"{name} must be a string.")
    return value


def _portal_put(body: dict[str, Any], state: SandboxState) -> dict[str, str]:
    """PUT /apikeys: the developer enables or disables a key and/or sets its DevRefId."""
    key = body.get("CustomerKey")
    status, dev_ref_id = _optional_text(body, "KeyStatus"), _optional_text(body, "DevRefId")
    if status is None and dev_ref_id is None:
        raise _api_error(400, "Nothing to update: give KeyStatus or DevRefId.")
    if status is not None and status not in ("Enabled", "DisabledByDeveloper"):
        raise _api_error(400, "KeyStatus must be Enabled or DisabledByDeveloper.")
    record = state.keys.get(key) if isinstance(key, str) else None
    if record is None or record.developer_key != state.developer_key:
        raise _api_error(400, "CustomerKey not found for this developer.")
    if record.status in ("DisabledByCustomer", "DisabledByHQ") and status == "Enabled":
        raise _api_error(400, f"Key is {record.status}; only the office or HQ can re-enable it.")
    return state.portal_update(key, status, dev_ref_id).portal_json()


def _int(params: dict[str, str], name: str) -> int:
    """Integer filter value (400 when not a number)."""
    return int_param(params, name, 0)


def _date(params: dict[str, str], name: str) -> date:
    """Date filter value (400 when malformed)."""
    value = date_param(params, name)
    assert value is not None
    return value


def _enum_value(name: str, label: str, labels: tuple[str, ...]) -> int:
    """Stored integer of an enum label (case-insensitive); 400 for unknown labels."""
    lowered = [x.lower() for x in labels]
    if label.lower() not in lowered:
        raise _api_error(400, f"'{label}' is not a valid {name}.")
    return lowered.index(label.lower())


def _stamp(raw: str) -> str:
    """Normalise a DateTStamp parameter to 'yyyy-MM-dd HH:mm:ss' for text comparison."""
    text = raw.strip().replace("T", " ")
    if len(text) == 10:
        text += " 00:00:00"
    if len(text) != 19 or text[4] != "-" or text[13] != ":":
        raise _api_error(400, "'DateTStamp' is not a valid date and time.")
    return text
