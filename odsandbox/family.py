"""Resource handlers of the Family and Account modules: the Patient Select search (GET
/patients), insurance (carriers, plans, subscribers, coverage) and a family's balances and
service-date ledger (``/accountmodules/{PatNum}/PatientBalances`` and ``/ServiceDateView``).

Shapes follow Open Dental's pages (apipatients, apicarriers, apiinsplans, apiinssubs,
apipatplans, apiaccountmodules) and the live captures in the facts file (section 11).
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from odsandbox.data import BILLING_TYPES, PAT_STATUS, YN
from odsandbox.practice import NO_SEND_ELECT, RELATIONSHIP
from odsandbox.resources import _date, _int, _stamp, yes_no
from odsandbox.store import OfficeStore, Row
from odsandbox.web import ApiError

if TYPE_CHECKING:
    from odsandbox.app import Ctx

# --- GET /patients: the Patient Select window's search ------------------------------------

_SELECT_FIELDS = ("PatNum", "LName", "FName", "MiddleI", "Preferred")
_SELECT_TEXT = ("Birthdate", "SSN", "Address", "Address2", "City", "State", "Zip", "HmPhone",
                "WkPhone", "WirelessPhone", "Email")  # fmt: skip
_PREFIX_FILTERS = ("LName", "FName", "City", "State", "ChartNumber")
_DIGITS_ONLY = (
    "REPLACE(REPLACE(REPLACE(REPLACE(REPLACE({0}, '(', ''), ')', ''), '-', ''), ' ', ''), '.', '')"  # noqa: E501
)
_PHONES = ("HmPhone", "WkPhone", "WirelessPhone")


def _like(value: str, prefix_only: bool) -> str:
    """A LIKE pattern (escape '\\') matching ``value`` as a prefix or anywhere."""
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{escaped}%" if prefix_only else f"%{escaped}%"


def _bool_param(params: dict[str, str], name: str) -> bool:
    """A "true"/"false" query parameter (absent = false); 400 otherwise."""
    value = params.get(name, "false").lower()
    if value not in ("true", "false"):
        raise ApiError(400, f"'{name}' must be true or false.")
    return value == "true"


def _select_filters(params: dict[str, str]) -> tuple[list[str], list[object]]:
    """WHERE fragments (fixed text) and values for the Patient Select search."""
    where = ["PatStatus <> 4"]  # deleted patients never appear
    args: list[object] = []
    for name in _PREFIX_FILTERS:
        if params.get(name):
            where.append(f"{name} LIKE ? ESCAPE '\\'")
            args.append(_like(params[name], True))
    if params.get("Address"):
        where.append("(Address LIKE ? ESCAPE '\\' OR Address2 LIKE ? ESCAPE '\\')")
        args.extend([_like(params["Address"], False)] * 2)
    if params.get("Email"):
        where.append("Email LIKE ? ESCAPE '\\'")
        args.append(_like(params["Email"], False))
    for name, columns in (("Phone", _PHONES), ("SSN", ("SSN",))):
        digits = re.sub(r"\D", "", params.get(name, ""))
        if digits:
            where.append(
                "(" + " OR ".join(f"{_DIGITS_ONLY.format(c)} LIKE ?" for c in columns) + ")"
            )
            args.extend([f"%{digits}%"] * len(columns))
    if "Birthdate" in params:
        where.append("Birthdate = ?")
        args.append(_date(params, "Birthdate").isoformat())
    if "SiteNum" in params:
        where.append("SiteNum = ?")
        args.append(_int(params, "SiteNum"))
    _status_filters(params, where)
    _link_filters(params, where, args)
    return where, args


def _status_filters(params: dict[str, str], where: list[str]) -> None:
    """hideInactive, showArchived (archived and deceased are hidden by default), guarOnly."""
    if _bool_param(params, "hideInactive"):
        where.append("PatStatus <> 2")
    if not _bool_param(params, "showArchived"):
        where.append("PatStatus NOT IN (3, 5)")
    if _bool_param(params, "guarOnly"):
        where.append("PatNum = Guarantor")


def _link_filters(params: dict[str, str], where: list[str], args: list[object]) -> None:
    """Filters through other tables: clinics, subscriber ids; Country and invoices match none."""
    if params.get("clinicNums"):
        try:
            nums = [int(n) for n in params["clinicNums"].split(",") if n.strip()]
        except ValueError:
            raise ApiError(400, "'clinicNums' must be a comma-separated list of numbers.") from None
        where.append(f"ClinicNum IN ({','.join('?' * len(nums))})")
        args.extend(nums)
    if params.get("clinicAbbr"):
        where.append("ClinicNum IN (SELECT ClinicNum FROM clinic WHERE Abbr LIKE ? ESCAPE '\\')")
        args.append(_like(params["clinicAbbr"], True))
    if params.get("SubscriberId"):
        where.append(
            "PatNum IN (SELECT patplan.PatNum FROM patplan JOIN inssub ON inssub.InsSubNum = "
            "patplan.InsSubNum WHERE inssub.SubscriberID LIKE ? ESCAPE '\\')"
        )
        args.append(_like(params["SubscriberId"], True))
    if params.get("Country"):
        where.append("0")  # the offices are in the USA and leave Country blank
    if params.get("invoiceNumber"):
        _int(params, "invoiceNumber")
        where.append("0")  # no statements (invoices) are generated


async def patients(ctx: Ctx) -> list[dict[str, Any]]:
    """GET /patients: Patient Select results (its short field set), sorted by name."""
    limit, offset = ctx.page()
    where, args = _select_filters(ctx.params)
    rows, provs, clinics = await ctx.run(_select_page, ctx.office.store, where, args, limit, offset)
    return [_select_json(r, provs, clinics) for r in rows]


def _select_page(
    store: OfficeStore, where: list[str], args: list[object], limit: int, offset: int
) -> tuple[list[Row], dict[int, str], dict[int, str]]:
    """Blocking part of GET /patients: the page and the abbreviations it shows."""
    sql = (
        f"SELECT * FROM patient WHERE {' AND '.join(where)} "  # noqa: S608 - fixed fragments
        "ORDER BY LName, FName, PatNum LIMIT ? OFFSET ?"
    )
    rows = store.fetch(sql, (*args, limit, offset))
    provs = {r["ProvNum"]: r["Abbr"] for r in store.fetch("SELECT ProvNum, Abbr FROM provider")}
    clinics = {r["ClinicNum"]: r["Abbr"] for r in store.fetch("SELECT ClinicNum, Abbr FROM clinic")}
    return rows, provs, clinics


def _select_json(r: Row, provs: dict[int, str], clinics: dict[int, str]) -> dict[str, Any]:
    """One Patient Select row in the documented order."""
    out: dict[str, Any] = {f: r[f] for f in _SELECT_FIELDS}
    out["PatStatus"] = PAT_STATUS[r["PatStatus"]]
    out.update({f: r[f] for f in _SELECT_TEXT})
    out.update(
        {
            "priProvAbbr": provs.get(r["PriProv"], ""),
            "secProvAbbr": provs.get(r["SecProv"], ""),
            "BillingType": BILLING_TYPES.get(r["BillingType"], ""),
            "ChartNumber": r["ChartNumber"],
            "ClinicNum": r["ClinicNum"],
            "clinicAbbr": clinics.get(r["ClinicNum"], ""),
            "siteDesc": "",
            "TxtMsgOk": YN[r["TxtMsgOk"]],
        }
    )
    return out


# --- insurance ---------------------------------------------------------------------------


async def carriers(ctx: Ctx) -> list[dict[str, Any]]:
    """GET /carriers."""
    limit, offset = ctx.page()
    rows = await ctx.run(ctx.office.store.page, "carrier", "CarrierNum", "1 = 1", (), limit, offset)
    return [
        {
            **{f: r[f] for f in ("CarrierNum", "CarrierName", "Address", "Address2", "City")},
            **{f: r[f] for f in ("State", "Zip", "Phone", "ElectID")},
            "NoSendElect": NO_SEND_ELECT[r["NoSendElect"]],
            "IsHidden": yes_no(r["IsHidden"]),
        }
        for r in rows
    ]


async def insplans(ctx: Ctx) -> list[dict[str, Any]]:
    """GET /insplans."""
    limit, offset = ctx.page()
    rows = await ctx.run(ctx.office.store.page, "insplan", "PlanNum", "1 = 1", (), limit, offset)
    numbers = ("PlanNum", "GroupName", "GroupNum", "PlanNote", "FeeSched", "PlanType",
               "ClaimFormNum", "CopayFeeSched", "EmployerNum", "CarrierNum")  # fmt: skip
    return [
        {
            **{f: r[f] for f in numbers},
            "CodeSubstNone": yes_no(r["CodeSubstNone"]),
            "IsHidden": yes_no(r["IsHidden"]),
            "MonthRenew": r["MonthRenew"],
            "IsBlueBookEnabled": yes_no(r["IsBlueBookEnabled"]),
        }
        for r in rows
    ]


async def inssubs(ctx: Ctx) -> list[dict[str, Any]]:
    """GET /inssubs (PlanNum, Subscriber, SecDateTEdit on or after)."""
    limit, offset = ctx.page()
    where, args = _int_filters(ctx.params, ("PlanNum", "Subscriber"))
    if "SecDateTEdit" in ctx.params:
        where.append("SecDateTEdit >= ?")
        args.append(_stamp(ctx.params["SecDateTEdit"]))
    rows = await ctx.run(
        ctx.office.store.page, "inssub", "InsSubNum", " AND ".join(where), args, limit, offset
    )
    return [
        {
            **{f: r[f] for f in ("InsSubNum", "PlanNum", "Subscriber", "DateEffective")},
            "DateTerm": r["DateTerm"],
            "SubscriberID": r["SubscriberID"],
            "BenefitNotes": r["BenefitNotes"],
            "ReleaseInfo": yes_no(r["ReleaseInfo"]),
            "AssignBen": yes_no(r["AssignBen"]),
            "SubscNote": r["SubscNote"],
            "SecDateTEdit": r["SecDateTEdit"],
        }
        for r in rows
    ]


async def patplans(ctx: Ctx) -> list[dict[str, Any]]:
    """GET /patplans (PatNum, InsSubNum)."""
    limit, offset = ctx.page()
    where, args = _int_filters(ctx.params, ("PatNum", "InsSubNum"))
    rows = await ctx.run(
        ctx.office.store.page, "patplan", "PatPlanNum", " AND ".join(where), args, limit, offset
    )
    return [
        {
            "PatPlanNum": r["PatPlanNum"],
            "PatNum": r["PatNum"],
            "Ordinal": r["Ordinal"],
            "IsPending": yes_no(r["IsPending"]),
            "Relationship": RELATIONSHIP[r["Relationship"]],
            "PatID": r["PatID"],
            "InsSubNum": r["InsSubNum"],
            "OrthoAutoFeeBilledOverride": r["OrthoAutoFeeBilledOverride"],
            "OrthoAutoNextClaimDate": r["OrthoAutoNextClaimDate"],
            "SecDateTEntry": r["SecDateTEntry"],
            "SecDateTEdit": r["SecDateTEdit"],
        }
        for r in rows
    ]


def _int_filters(params: dict[str, str], names: tuple[str, ...]) -> tuple[list[str], list[object]]:
    """``name = ?`` fragments for the integer filters present."""
    where, args = ["1 = 1"], []
    for name in names:
        if name in params:
            where.append(f"{name} = ?")
            args.append(_int(params, name))
    return where, args


# --- account module ----------------------------------------------------------------------


def _family(store: OfficeStore, pat_num: int) -> list[Row]:
    """The family (guarantor first) without deleted members; 404 absent, 400 deleted."""
    family = store.family_rows(pat_num)
    me = next((r for r in family if r["PatNum"] == pat_num), None)
    if me is None:
        raise ApiError(404, "Patient not found.")
    if me["PatStatus"] == PAT_STATUS.index("Deleted"):
        raise ApiError(400, "Patient is deleted.")
    return [r for r in family if r["PatStatus"] != PAT_STATUS.index("Deleted")]


def _amount(value: float) -> float | int:
    """A balance as the live API prints it: whole amounts without decimals (``0``, ``68``)."""
    value = round(value, 2)
    return int(value) if value == int(value) else value


async def patient_balances(ctx: Ctx) -> list[dict[str, Any]]:
    """PatientBalances: one row per member, then "Entire Family" (not for a family of one)."""
    family = await ctx.run(_family, ctx.office.store, ctx.request.path_params["patnum"])
    rows = [
        {
            "PatNum": r["PatNum"],
            "Name": f"{r['LName']}, {r['FName']}",
            "Balance": _amount(r["EstBalance"]),
        }
        for r in family
    ]
    if len(rows) > 1:
        total = sum(r["EstBalance"] for r in family)
        rows.append(
            {"PatNum": family[0]["Guarantor"], "Name": "Entire Family", "Balance": _amount(total)}
        )
    return rows


async def service_date_view(ctx: Ctx) -> list[dict[str, str]]:
    """ServiceDateView: the ledger by service date, every value a string."""
    is_family = _bool_param(ctx.params, "isFamily")
    pat_num = ctx.request.path_params["patnum"]
    return await ctx.run(_ledger, ctx.office.store, pat_num, is_family)


def _ledger(store: OfficeStore, pat_num: int, is_family: bool) -> list[dict[str, str]]:
    """Completed procedures as charges, with the payments that leave each member's balance.

    No payment table is generated: the credits are derived so that each member's ledger ends
    at their EstBalance (the newest charges stay unpaid; a balance above the charges shows as
    an adjustment, a credit as an unallocated payment).
    """
    family = _family(store, pat_num)
    members = family if is_family else [r for r in family if r["PatNum"] == pat_num]
    provs = {r["ProvNum"]: r["Abbr"] for r in store.fetch("SELECT ProvNum, Abbr FROM provider")}
    by_date: dict[str, list[dict[str, str]]] = defaultdict(list)
    for member in members:
        for line_date, line in _member_lines(store, member, provs):
            by_date[line_date].append(line)
    out: list[dict[str, str]] = []
    totals = [0.0, 0.0, 0.0]
    for day in sorted(by_date):
        lines = by_date[day]
        charge = sum(float(x["Charge"]) for x in lines)
        credit = sum(float(x["Credit"]) for x in lines)
        out.extend(lines)
        out.append(
            _line(
                "",
                "",
                "Day Total",
                day,
                "",
                None,
                "Total for Date",
                charge,
                credit,
                "",
                0.0,
                charge - credit,
            )
        )
        totals = [totals[0] + charge, totals[1] + credit, totals[2] + charge - credit]
    out.append(
        _line(
            "", "", "Overall Total", "", "", None, "Total", totals[0], totals[1], "", 0.0, totals[2]
        )
    )
    return out


def _member_lines(
    store: OfficeStore, member: Row, provs: dict[int, str]
) -> list[tuple[str, dict[str, str]]]:
    """(date, line) pairs of one member: procedure charges and the credits against them."""
    procs = store.fetch(
        "SELECT p.ProcNum, p.ProcDate, p.ProcFee, p.ToothNum, p.Surf, p.ProvNum, c.ProcCode, "
        "c.AbbrDesc FROM procedurelog p JOIN procedurecode c ON c.CodeNum = p.CodeNum "
        "WHERE p.PatNum = ? AND p.ProcStatus = 2 ORDER BY p.ProcDate, p.ProcNum",
        (member["PatNum"],),
    )
    remaining = member["EstBalance"]
    unpaid = {}
    for proc in reversed(procs):  # the newest charges are the ones still owed
        unpaid[proc["ProcNum"]] = max(0.0, min(proc["ProcFee"], remaining))
        remaining = round(remaining - unpaid[proc["ProcNum"]], 2)
    lines: list[tuple[str, dict[str, str]]] = []
    for proc in procs:
        owed = unpaid[proc["ProcNum"]]
        prov, day, key = provs.get(proc["ProvNum"], ""), proc["ProcDate"], str(proc["ProcNum"])
        tooth = f"#{proc['ToothNum']}-" if proc["ToothNum"] else ""
        surf = f"{proc['Surf']}-" if proc["Surf"] else ""
        ref = f"{proc['ProcCode']}:{tooth}{surf}{proc['AbbrDesc']}"
        lines.append(
            (
                day,
                _line(
                    "Procedure",
                    key,
                    "Proc",
                    day,
                    "",
                    member,
                    ref,
                    proc["ProcFee"],
                    0.0,
                    prov,
                    0.0,
                    owed,
                ),
            )
        )
        if proc["ProcFee"] - owed > 0.004:
            paid = proc["ProcFee"] - owed
            lines.append(
                (
                    day,
                    _line(
                        "PaySplit",
                        key,
                        "PatPay Att.",
                        "",
                        day,
                        member,
                        "Payment",
                        0.0,
                        paid,
                        prov,
                        None,
                        None,
                    ),
                )
            )
    first_day = procs[0]["ProcDate"] if procs else member["DateFirstVisit"]
    if remaining > 0.004:  # owes more than its procedures: an older balance carried forward
        lines.append(
            (
                first_day,
                _line(
                    "Adjustment",
                    "",
                    "Adj",
                    "",
                    first_day,
                    member,
                    "Balance forward",
                    remaining,
                    0.0,
                    "",
                    None,
                    None,
                ),
            )
        )
    elif remaining < -0.004:  # a credit on the account
        lines.append(
            (
                first_day,
                _line(
                    "PaySplit",
                    "",
                    "Unallocated",
                    "",
                    first_day,
                    member,
                    "Prepayment",
                    0.0,
                    -remaining,
                    "",
                    None,
                    None,
                ),
            )
        )
    return lines


def _line(
    object_type: str,
    key: str,
    kind: str,
    service_date: str,
    trans_date: str,
    member: Row | None,
    reference: str,
    charge: float,
    credit: float,
    provider: str,
    ins_bal: float | None,
    acct_bal: float | None,
) -> dict[str, str]:
    """One ServiceDateView line; money with two decimals, blanks where nothing applies."""
    return {
        "ObjectType": object_type,
        "PrimaryKey": key,
        "Type": kind,
        "ServiceDate": service_date,
        "TransDate": trans_date,
        "Patient": member["FName"] if member else "",
        "PatNum": str(member["PatNum"]) if member else "",
        "Reference": reference,
        "Charge": f"{charge:.2f}",
        "Credit": f"{credit:.2f}",
        "Provider": provider,
        "InsBal": "" if ins_bal is None else f"{ins_bal:.2f}",
        "AcctBal": "" if acct_bal is None else f"{acct_bal:.2f}",
    }
