"""Reads for the aging report: a snapshot's rows (keyset pages on the report's indexes),
totals, trend and CSV rows. The office is already scoped to the user (``get_office_for_user``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import (
    Count,
    DecimalField,
    Exists,
    F,
    Field,
    Func,
    OuterRef,
    QuerySet,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import timezone

from integrations.offices.models import (
    AGING_BUCKETS,
    OFFICE_AGING_FIELDS,
    AgingRow,
    AgingSnapshot,
    Office,
    SnapshotState,
)
from integrations.offices.selectors.offices import user_offices

AGING_SORTS = {
    "name": "name",
    "pat_num": "pat_num",
    "clinic": "clinic_num",
    "bal_0_30": "bal_0_30",
    "bal_31_60": "bal_31_60",
    "bal_61_90": "bal_61_90",
    "bal_over_90": "bal_over_90",
    "ins_est": "ins_est",
    "bal_total": "bal_total",
}
AGING_CSV_COLUMNS = (
    "pat_num",
    "name",
    "clinic_num",
    "bal_0_30",
    "bal_31_60",
    "bal_61_90",
    "bal_over_90",
    "ins_est",
    "est_balance",
    "bal_total",
)


def aging_snapshot_for(office: Office, snapshot_id=None) -> AgingSnapshot | None:
    """The office's current snapshot, or one of its snapshots by public id (404 if foreign)."""
    if snapshot_id:
        try:
            public_id = uuid.UUID(str(snapshot_id))
        except ValueError:
            raise Http404("No such snapshot.") from None  # a malformed id is just not found
        snapshot = office.snapshots.filter(public_id=public_id).first()
        if snapshot is None:
            raise Http404("No such snapshot.")
        return snapshot
    if office.current_snapshot_id is None:
        return None
    return AgingSnapshot.objects.filter(pk=office.current_snapshot_id).first()


def aging_rows(snapshot: AgingSnapshot, *, clinic: int | None, sort: str, desc: bool):
    """The guarantor rows of a snapshot, filtered by clinic and sorted (stable by pat_num)."""
    rows = AgingRow.objects.filter(snapshot=snapshot)
    if clinic is not None:
        rows = rows.filter(clinic_num=clinic)
    field = AGING_SORTS.get(sort, "bal_total")
    order = [f"-{field}", "-pat_num"] if desc else [field, "pat_num"]
    return rows.order_by(*order).only("pat_num", "clinic_num", "name", *AGING_BUCKETS)


def aging_rows_count(snapshot: AgingSnapshot, *, clinic: int | None) -> int | None:
    """The number of rows a complete snapshot recorded (all, or one clinic's); None if unknown.

    Saves a COUNT(*) over every guarantor on each page view.
    """
    if snapshot.state != SnapshotState.COMPLETE:
        return None
    if clinic is None:
        return snapshot.guarantor_count
    recorded = (snapshot.clinic_totals or {}).get(str(clinic))
    if recorded is None or "guarantors" not in recorded:
        return None
    return int(recorded["guarantors"])


@dataclass(frozen=True)
class AgingCursor:
    """Where a keyset page starts: after (or before) the row with this sort value and pat_num."""

    value: Any
    pat_num: int
    before: bool = False

    def encode(self) -> str:
        return f"{self.pat_num}:{self.value}"


_INT64_MAX = 2**63 - 1
_MONEY_LIMIT = Decimal(10**12)  # AgingRow's money columns are numeric(14, 2)


def key_param(raw: str) -> int | None:
    """A PatNum/ClinicNum from the query string: ASCII digits within 64 bits, else None."""
    if not (raw.isascii() and raw.isdigit()) or int(raw) > _INT64_MAX:
        return None
    return int(raw)


def aging_cursor_parse(raw: str, sort: str, *, before: bool = False) -> AgingCursor | None:
    """A cursor from the query string, or None when it is missing, malformed or out of the
    columns' range (a value the database could not compare is a bad link, not a 500)."""
    pat, sep, value = raw.partition(":")
    pat_num = key_param(pat)
    if not sep or pat_num is None:
        return None
    field = AGING_SORTS.get(sort, "bal_total")
    if field in ("pat_num", "clinic_num"):
        parsed: Any = key_param(value)
    elif field == "name":
        parsed = value if "\x00" not in value else None
    else:
        try:
            parsed = Decimal(value)
        except ArithmeticError:
            return None
        if not (parsed.is_finite() and abs(parsed) < _MONEY_LIMIT):
            return None
    if parsed is None:
        return None
    return AgingCursor(value=parsed, pat_num=pat_num, before=before)


# Sort columns with a (snapshot, column, pat_num) index (pat_num: the unique constraint), and
# with a (snapshot, clinic_num, column, pat_num) one.
_INDEXED_AGING_SORTS = frozenset({"bal_over_90", "bal_total", "pat_num"})
_INDEXED_CLINIC_AGING_SORTS = frozenset({"bal_total"})


def aging_cursor_at(
    rows: QuerySet[AgingRow], position: int, sort: str, *, clinic: int | None = None
) -> AgingCursor | None:
    """The cursor after the row at ``position`` of ``rows`` (None past the end).

    Only the sort column and pat_num are read, which the (snapshot, field, pat_num) index
    holds: a deep ``?page=N`` bookmark skips along the index (an index-only scan once
    autovacuum has visited the snapshot, which never changes after it is complete) instead of
    reading every skipped row from the table.
    """
    field = AGING_SORTS.get(sort, "bal_total")
    skip = rows.values_list(field, "pat_num")[position : position + 1]
    with transaction.atomic(), connection.cursor() as cursor:
        indexed = _INDEXED_AGING_SORTS if clinic is None else _INDEXED_CLINIC_AGING_SORTS
        if connection.vendor == "postgresql" and field in indexed:
            # The planner's costs for "sort the snapshot" and "walk the index" are close, and
            # it often sorts, several times slower (docs/benchmarks.md). The index is in the
            # right order, so no sort is ever needed for this one statement.
            cursor.execute("SET LOCAL enable_sort = off")
        found = list(skip)
    if not found:
        return None
    value, pat_num = found[0]
    return AgingCursor(value=value, pat_num=pat_num)


def aging_cursor_of(row: AgingRow, sort: str, *, before: bool = False) -> AgingCursor:
    """The cursor that starts the next page after ``row`` (or the previous one before it)."""
    field = AGING_SORTS.get(sort, "bal_total")
    return AgingCursor(value=getattr(row, field), pat_num=row.pat_num, before=before)


class _RowValue(Func):
    """``(a, b)``: a row value; compared as a whole it bounds a multi-column index scan."""

    template = "(%(expressions)s)"
    output_field = Field()


def aging_rows_keyset(rows: QuerySet[AgingRow], cursor: AgingCursor, *, sort: str, desc: bool):
    """Rows after (or before) the cursor in the sort order: an index range, not an OFFSET.

    ``(field, pat_num) < (value, pat)`` is one range of the (snapshot, field, pat_num) index. A
    'before' page is read in the opposite order; the caller reverses it.
    """
    field = AGING_SORTS.get(sort, "bal_total")
    descending = desc != cursor.before  # a 'before' page reads the other way
    key = _RowValue(F(field), F("pat_num"))
    bound = _RowValue(Value(cursor.value), Value(cursor.pat_num))
    rows = rows.alias(_key=key).filter(**{"_key__lt" if descending else "_key__gt": bound})
    order = [f"-{field}", "-pat_num"] if descending else [field, "pat_num"]
    return rows.order_by(*order)


def aging_totals(snapshot: AgingSnapshot, *, clinic: int | None) -> dict[str, Decimal]:
    """Bucket totals: the snapshot's own, its recorded clinic totals, or summed over the rows."""
    if clinic is None:
        return {b: getattr(snapshot, b) for b in AGING_BUCKETS}
    recorded = (snapshot.clinic_totals or {}).get(str(clinic))
    if (
        snapshot.state == SnapshotState.COMPLETE
        and recorded
        and set(AGING_BUCKETS) <= set(recorded)
    ):
        return {b: Decimal(recorded[b]) for b in AGING_BUCKETS}
    sums = AgingRow.objects.filter(snapshot=snapshot, clinic_num=clinic).aggregate(
        **{
            b: Coalesce(Sum(b), Value(Decimal("0")), output_field=DecimalField())
            for b in AGING_BUCKETS
        }
    )
    return sums


def aging_trend(office: Office, *, limit: int = 30) -> list[AgingSnapshot]:
    """Totals of the office's last complete regular snapshots, oldest first."""
    snaps = (
        office.snapshots.filter(
            state=SnapshotState.COMPLETE, is_as_of_request=False, clinic_num__isnull=True
        )
        .order_by("-fetched_at")
        .only("office_id", "public_id", "as_of", "fetched_at", "bal_total", "bal_over_90")[:limit]
    )
    return list(reversed(snaps))


def aging_as_of_snapshots(office: Office, *, limit: int = 20) -> list[AgingSnapshot]:
    """Snapshots fetched for an 'as of another date' request, newest first."""
    return list(
        office.snapshots.filter(is_as_of_request=True)
        .order_by("-fetched_at")
        .only("office_id", "public_id", "as_of", "clinic_num", "state", "fetched_at", "bal_total")[
            :limit
        ]
    )


def aging_csv_rows(snapshot: AgingSnapshot, *, clinic: int | None):
    """Every row of a snapshot as tuples of AGING_CSV_COLUMNS, streamed in chunks."""
    rows = AgingRow.objects.filter(snapshot=snapshot)
    if clinic is not None:
        rows = rows.filter(clinic_num=clinic)
    return rows.order_by("pat_num").values_list(*AGING_CSV_COLUMNS).iterator(chunk_size=5000)


# --- The fleet: every office of the user's accounts -------------------------------------------

FLEET_TREND_DAYS = 30


@dataclass(frozen=True)
class FleetDay:
    """One day of the fleet's aging: the sums over the offices whose aging was fetched then."""

    as_of: date
    bal_total: Decimal
    bal_over_90: Decimal
    offices: int


def fleet_aging_trend(user: AbstractBaseUser, *, days: int = FLEET_TREND_DAYS) -> list[FleetDay]:
    """Per day of the last ``days``, oldest first: the A/R total and 90+ summed over each
    office's last complete snapshot of that day, and how many offices that is (one grouped
    query; an office's refreshes of one day count once)."""
    regular = AgingSnapshot.objects.filter(
        state=SnapshotState.COMPLETE, is_as_of_request=False, clinic_num__isnull=True
    )
    newer_that_day = regular.filter(
        office=OuterRef("office"), as_of=OuterRef("as_of"), fetched_at__gt=OuterRef("fetched_at")
    )
    start = timezone.localdate() - timedelta(days=days - 1)
    rows = (
        regular.filter(office__in=user_offices(user), as_of__gte=start)
        .filter(~Exists(newer_that_day))
        .values("as_of")
        .annotate(total=Sum("bal_total"), over_90=Sum("bal_over_90"), offices=Count("id"))
        .order_by("as_of")
    )
    return [FleetDay(r["as_of"], r["total"], r["over_90"], r["offices"]) for r in rows]


FLEET_CSV_COLUMNS = (
    "office", "reference", "account", "as_of", "fetched_at", "guarantors",
    *AGING_BUCKETS,
)  # fmt: skip
FLEET_CSV_TEXT = ("office", "reference", "account")


def fleet_aging_csv_rows(user: AbstractBaseUser):
    """Every office's current aging totals (blank dates where none was fetched yet), by name."""
    offices = user_offices(user).order_by("name", "id").values_list(
        "name", "reference", "account__company_name", "current_snapshot__as_of",
        "current_snapshot__fetched_at", "current_snapshot__guarantor_count",
        *OFFICE_AGING_FIELDS,
    )  # fmt: skip
    for row in offices.iterator(chunk_size=2000):
        as_of, fetched = row[3], row[4]
        yield (
            *row[:3], as_of.isoformat() if as_of else "",
            timezone.localtime(fetched).isoformat(timespec="seconds") if fetched else "",
            "" if row[5] is None else row[5], *row[6:],
        )  # fmt: skip
