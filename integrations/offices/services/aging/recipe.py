"""Open Dental's aging recipe for very large databases (apisetup.html, "Retrieving Aging
Data"), decided once for both polling engines (``polling.execute`` and ``polling.batch``).

1. Read ``DateLastAging``; if today's automated aging has not run yet, wait until after the
   office's ``AgingServiceTimeDue`` (``daily_plan``).
2. Page guarantors with a non-zero balance through ``PUT /queries/ShortQuery`` (needs
   ApiQueries), or ``GET /reports/Aging`` without it; as-of-date requests always use the report
   (``AgingPage``). Pages are ordered by PatNum, so a resumed refresh continues at the number
   of rows it stored.

The engines only drive these steps: one with the sync client, one awaiting the async client.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, NamedTuple
from zoneinfo import ZoneInfo

import msgspec
from django.conf import settings
from django.utils import timezone

from integrations import opendental as od
from integrations.offices.models import (
    AGING_BUCKETS,
    AgingSnapshot,
    Office,
    PollRun,
    SnapshotSource,
)
from integrations.offices.services.aging.snapshots import Row
from integrations.opendental.parsing import Fields
from integrations.opendental.preferences import PREF_DATE_LAST_AGING, parse_pref_date

SHORT_QUERY_PAGE = 100  # ShortQuery's remote row cap, whatever the mode's page size
# Open Dental's names for the aging buckets (GET /reports/Aging, the patient table's columns).
OPEN_DENTAL_BUCKETS = dict(
    zip(
        AGING_BUCKETS,
        ("Bal_0_30", "Bal_31_60", "Bal_61_90", "BalOver90", "InsEst", "BalTotal"),
        strict=True,
    )
)

# The documented recipe's columns (apisetup.html "Retrieving Aging Data") plus the name, which
# the report table shows. Ordered by PatNum so Offset paging is stable and resumable.
AGING_SQL = (
    "SELECT patnum, lname, fname, clinicnum, estbalance, bal_0_30, bal_31_60, bal_61_90,"
    " balover90, insest, baltotal FROM patient WHERE patnum = guarantor AND (bal_0_30 <> 0"
    " OR bal_31_60 <> 0 OR bal_61_90 <> 0 OR balover90 <> 0 OR insest <> 0 OR baltotal <> 0)"
    " ORDER BY patnum"
)


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1  # the client's parse_int range
_Key = Annotated[int, msgspec.Meta(ge=0, le=_INT64_MAX)]  # a PatNum or ClinicNum
# AgingRow's money columns are numeric(14, 2).
MONEY_LIMIT = Decimal(10**12)


class QueryRow(msgspec.Struct, kw_only=True, frozen=True, gc=False):
    """A ShortQuery row of AGING_SQL exactly as Open Dental sends it (decoded in C).

    Pages that do not match (other key case, integers as 3.0, ...) take ``row_from_query``.
    """

    patnum: _Key
    lname: str | None = None
    fname: str | None = None
    clinicnum: _Key = 0
    estbalance: Decimal
    bal_0_30: Decimal
    bal_31_60: Decimal
    bal_61_90: Decimal
    balover90: Decimal
    insest: Decimal
    baltotal: Decimal

    @staticmethod
    def matches_wire(content: bytes, page: list[QueryRow]) -> bool:
        """Money was sent as numbers: msgspec also takes "12.50" for a Decimal, the strict
        path does not. With every value a number, the only quotes are the 11 keys' and the
        names' (a name with an escaped quote just takes the strict path)."""
        names = sum((q.lname is not None) + (q.fname is not None) for q in page)
        return content.count(b'"') == 22 * len(page) + 2 * names


# AGING_SQL's money columns in Row order (ShortQuery keys come back as written: lower case).
_QUERY_MONEY = ("estbalance", "bal_0_30", "bal_31_60", "bal_61_90", "balover90", "insest",
                "baltotal")  # fmt: skip


def rows_from_query(page: list[QueryRow] | list[dict]) -> list[Row]:
    """Rows from a ShortQuery page of AGING_SQL (typed by the client, or plain dicts)."""
    if not page or type(page[0]) is not QueryRow:
        return [row_from_query(raw) for raw in page]
    return [
        _query_row(
            q.patnum,
            q.clinicnum,
            q.lname,
            q.fname,
            (q.estbalance, q.bal_0_30, q.bal_31_60, q.bal_61_90, q.balover90, q.insest, q.baltotal),
        )  # fmt: skip
        for q in page
    ]


def _query_row(pat_num: int, clinic_num: int, lname, fname, money) -> Row:
    """A Row once its keys and amounts fit the table (PatNum/ClinicNum >= 0, numeric(14, 2))."""
    if pat_num < 0 or clinic_num < 0:
        raise od.BadResponse(f"ShortQuery row {pat_num}: negative PatNum or ClinicNum")
    # Finite Decimals only here (JSON has no NaN or Infinity, the strict parser refuses them).
    if not (min(money) > -MONEY_LIMIT and max(money) < MONEY_LIMIT):
        raise od.BadResponse(f"ShortQuery row {pat_num}: an amount is out of range")
    name = f"{lname}, {fname}" if lname and fname else str(lname or fname or "")
    return Row(pat_num, clinic_num, name[:200], *money)


def row_from_query(raw: dict) -> Row:
    """A ShortQuery row (column names as written in the SQL, any case)."""
    # Keys come back as written in AGING_SQL (lower case): skip re-keying when they do.
    lower = raw if "patnum" in raw else {str(k).lower(): v for k, v in raw.items()}
    pat_num, clinic_num = lower.get("patnum"), lower.get("clinicnum") or 0
    try:  # fast path for what the client's parser produces: ints and finite Decimals
        money = [lower[c] for c in _QUERY_MONEY]
    except KeyError:
        money = []
    if not (type(pat_num) is int and type(clinic_num) is int and len(money) == 7
            and _INT64_MIN <= pat_num <= _INT64_MAX and _INT64_MIN <= clinic_num <= _INT64_MAX
            and all(type(m) is Decimal and m.is_finite() for m in money)):  # fmt: skip
        f = Fields(lower, "ShortQuery aging row", case_insensitive=True)  # strict: BadResponse
        pat_num, clinic_num = f.integer("PatNum"), f.integer("ClinicNum", 0)
        money = [f.money(column) for column in _QUERY_MONEY]
    return _query_row(pat_num, clinic_num, lower.get("lname"), lower.get("fname"), money)


def row_from_report(raw: dict, clinic_num: int | None) -> Row:
    """A GET /reports/Aging row; its insurance estimate is InsPayEst + InsWoEst."""
    parsed = od.AgingReportRow.from_json(raw)
    if parsed.pat_num < 0:
        raise od.BadResponse(f"Aging report row {parsed.pat_num}: negative PatNum")
    return Row(
        parsed.pat_num, clinic_num or 0, parsed.pat_name[:200], parsed.patient_portion,
        parsed.bal_0_30, parsed.bal_31_60, parsed.bal_61_90, parsed.bal_over_90,
        parsed.ins_pay_est + parsed.ins_wo_est, parsed.bal_total,
    )  # fmt: skip


def rows_from_report(raw: object, clinic_num: int | None) -> list[Row]:
    """Rows from a GET /reports/Aging page (the decoded body)."""
    if not isinstance(raw, list):
        raise od.BadResponse("GET /reports/Aging did not return a list")
    return [row_from_report(r, clinic_num) for r in raw]


def office_today(office: Office, now: datetime | None = None) -> date:
    """The office's local date (Open Dental stores office-local dates)."""
    return (now or timezone.now()).astimezone(ZoneInfo(office.time_zone)).date()


def aging_due_at(office: Office, day: date) -> datetime:
    """The moment on ``day`` (office time) after which that day's aging should have run."""
    due = office.aging_service_time_due or datetime.min.time()
    local = datetime.combine(day, due, tzinfo=ZoneInfo(office.time_zone))
    return local + timedelta(minutes=settings.AGING_AFTER_DUE_MARGIN_MIN)


def aging_ready_at(office: Office, date_last_aging: date | None, now: datetime) -> datetime | None:
    """None if aging may be read now; else when to try (recipe: wait for today's run)."""
    today = office_today(office, now)
    if date_last_aging == today:
        return None
    due = aging_due_at(office, today)
    return due if now < due else None


class DailyPlan(NamedTuple):
    """What a daily refresh does once it knows DateLastAging: wait, or read from a source."""

    wait_until: datetime | None  # set: today's aging has not run yet (recipe: wait)
    source: str
    as_of: date


def daily_plan(office: Office, date_last_aging: date | None, now: datetime) -> DailyPlan:
    """The recipe's decision for a daily refresh (the office's permissions already known)."""
    return DailyPlan(
        aging_ready_at(office, date_last_aging, now),
        sources_for(office.granted_permissions),
        date_last_aging or office_today(office, now),
    )


def next_aging_at(office: Office, now: datetime) -> datetime:
    """Tomorrow's refresh time: after the office's automated aging run."""
    return aging_due_at(office, office_today(office, now) + timedelta(days=1))


def sources_for(granted: frozenset[str] | list[str]) -> str:
    """ShortQuery when the key holds ApiQueries; else the /reports/Aging fallback."""
    return SnapshotSource.SHORT_QUERY if "ApiQueries" in granted else SnapshotSource.REPORTS_AGING


def as_of_plan(run: PollRun, office: Office) -> tuple[str, date]:
    """An as-of-date request: the report, as of the asked date (or today)."""
    return SnapshotSource.REPORTS_AGING_AS_OF, run.as_of or office_today(office)


def daily_plan_fetch(client: od.OpenDentalClient, office: Office, now: datetime) -> DailyPlan:
    """Step 1 with the sync client: the key's permissions (once) and DateLastAging."""
    if not office.granted_permissions:
        office.granted_permissions = sorted(client.granted_permissions())
    return daily_plan(office, parse_pref_date(client.preference(PREF_DATE_LAST_AGING)), now)


async def adaily_plan_fetch(client: Any, office: Office, now: datetime) -> DailyPlan:
    """Step 1 awaited (``AsyncOpenDentalClient``): as ``daily_plan_fetch``."""
    if not office.granted_permissions:
        office.granted_permissions = sorted(await client.agranted_permissions())
    pref = await client.apreference(PREF_DATE_LAST_AGING)
    return daily_plan(office, parse_pref_date(pref), now)


class AgingPage(NamedTuple):
    """Step 2: the page of ``snapshot`` from ``offset`` (its rows in PatNum order)."""

    snapshot: AgingSnapshot
    offset: int

    @property
    def _short_query(self) -> bool:
        return self.snapshot.source == SnapshotSource.SHORT_QUERY

    def fetch(self, client: od.OpenDentalClient) -> list[Row]:
        """The page's rows, with the sync client."""
        if self._short_query:
            return rows_from_query(client.short_query(AGING_SQL, self.offset, row_type=QueryRow))
        raw = client.request("GET", "/reports/Aging", params=self._report_params())
        return rows_from_report(raw, self.snapshot.clinic_num)

    async def afetch(self, client: Any) -> list[Row]:
        """The page's rows, awaited (``AsyncOpenDentalClient``)."""
        if self._short_query:
            return rows_from_query(await client.ashort_query(AGING_SQL, self.offset, QueryRow))
        raw = await client.arequest("GET", "/reports/Aging", params=self._report_params())
        return rows_from_report(raw, self.snapshot.clinic_num)

    def is_last(self, rows: list[Row], client: od.OpenDentalClient) -> bool:
        """A short page ends the refresh (no total is documented)."""
        return len(rows) < (SHORT_QUERY_PAGE if self._short_query else client.page_size)

    def _report_params(self) -> dict:
        snapshot = self.snapshot
        return {
            "DateAsOf": snapshot.as_of if snapshot.is_as_of_request else None,
            "ClinicNum": snapshot.clinic_num,
            "Offset": self.offset or None,
        }
