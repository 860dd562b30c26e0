"""Aging snapshots: the rows a refresh fetched (``recipe``), written safely.

Rows go into a *building* snapshot; it becomes the office's current one only when complete, in
one transaction, so a failed or partial refresh never replaces or damages the last good one.
Rows are keyed by (snapshot, guarantor), so a re-fetched page changes nothing twice; a killed
refresh resumes at the number of rows already stored (pages are ordered by PatNum).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import repeat
from typing import NamedTuple

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from integrations.offices.models import (
    AGING_BUCKETS,
    OFFICE_AGING_FIELDS,
    AgingRow,
    AgingSnapshot,
    Office,
    PollRun,
    SnapshotState,
)
from odportal.lib import bulk

ROW_FIELDS = ("pat_num", "clinic_num", "name", "est_balance", *AGING_BUCKETS)


class Row(NamedTuple):
    """One guarantor's aging, whatever endpoint it came from (a tuple: pages hold thousands)."""

    pat_num: int
    clinic_num: int
    name: str
    est_balance: Decimal
    bal_0_30: Decimal
    bal_31_60: Decimal
    bal_61_90: Decimal
    bal_over_90: Decimal
    ins_est: Decimal
    bal_total: Decimal


def snapshot_open(
    *,
    run: PollRun,
    source: str,
    as_of: date,
    clinic_num: int | None = None,
) -> tuple[AgingSnapshot, int]:
    """A snapshot for a run that has none yet (the caller has looked: one per run at most):
    this office's unfinished one for the same day, resumed, or a new one; with the number of
    rows it already holds (where the refresh continues)."""
    return snapshots_open([(run, source, as_of, clinic_num)])[run.pk]


def snapshots_open(
    wanted: list[tuple[PollRun, str, date, int | None]],
) -> dict[int, tuple[AgingSnapshot, int]]:
    """``snapshot_open`` for many runs (run, source, as_of, clinic_num), by run id: a lookup of
    unfinished snapshots, then one INSERT for the new ones (and, rarely, the resumed' counts)."""
    building = AgingSnapshot.objects.filter(
        office_id__in={run.office_id for run, *_ in wanted}, state=SnapshotState.BUILDING
    ).order_by("-fetched_at")
    resumable: dict[tuple, AgingSnapshot] = {}
    for snap in building:
        match = (snap.office_id, snap.source, snap.as_of, snap.clinic_num, snap.is_as_of_request)
        resumable.setdefault(match, snap)
    opened: dict[int, tuple[AgingSnapshot, int]] = {}
    resumed: list[AgingSnapshot] = []
    created: list[AgingSnapshot] = []
    for run, source, as_of, clinic_num in wanted:
        as_of_request = run.kind == "aging_as_of"
        snap = resumable.pop((run.office_id, source, as_of, clinic_num, as_of_request), None)
        if snap is not None:
            snap.run = run
            resumed.append(snap)
        else:
            snap = AgingSnapshot(
                office_id=run.office_id, run=run, source=source, as_of=as_of,
                clinic_num=clinic_num, is_as_of_request=as_of_request,
            )  # fmt: skip
            created.append(snap)
        opened[run.pk] = (snap, 0)  # a new one has nothing to count; resumed: below
    AgingSnapshot.objects.bulk_create(created)
    if resumed:
        AgingSnapshot.objects.bulk_update(resumed, ["run"])
        counts = snapshots_row_counts(resumed)
        for snap in resumed:
            opened[snap.run.pk] = (snap, counts[snap.pk])
    return opened


def snapshot_row_count(snapshot: AgingSnapshot) -> int:
    """Rows stored so far: where a resumed refresh continues."""
    return AgingRow.objects.filter(snapshot=snapshot).count()


def snapshots_row_counts(snapshots: list[AgingSnapshot]) -> dict[int, int]:
    """``snapshot_row_count`` of each snapshot, by id, in one query (none for no snapshots)."""
    if not snapshots:
        return {}
    counts = dict(
        AgingRow.objects.filter(snapshot__in=snapshots)
        .values_list("snapshot_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {s.pk: counts.get(s.pk, 0) for s in snapshots}


def snapshot_rows_ingest(snapshot: AgingSnapshot, rows: list[Row]) -> int:
    """Write one page of rows; re-writing the same guarantors replaces them, never duplicates."""
    return snapshots_rows_ingest({snapshot.pk: rows})


def snapshots_rows_ingest(batches: dict[int, list[Row]]) -> int:
    """``snapshot_rows_ingest`` for several snapshots (by id) at once: on Postgres one COPY."""
    batches = {snapshot_id: rows for snapshot_id, rows in batches.items() if rows}
    if not batches:
        return 0
    if connection.vendor == "postgresql":
        _ingest_copy(batches)
    else:
        for snapshot_id, rows in batches.items():
            AgingRow.objects.bulk_create(
                [AgingRow(snapshot_id=snapshot_id, **r._asdict()) for r in rows],
                update_conflicts=True,
                unique_fields=["snapshot", "pat_num"],
                update_fields=[f for f in ROW_FIELDS if f != "pat_num"],
            )
    return sum(len(rows) for rows in batches.values())


def _ingest_copy(batches: dict[int, list[Row]]) -> None:
    """Postgres: delete the batches' guarantors, then COPY (much cheaper than INSERTs).

    The DELETE is bounded by the batch's PatNum range so it always walks the unique index
    (with stale statistics the planner otherwise scans all of the snapshot's rows per page,
    which makes a refresh quadratic). The commit is asynchronous: these rows are a re-fetchable
    cache, a crash can only lose the last pages (WAL is sequential), and a resumed refresh
    starts from the rows actually stored.
    """
    table = AgingRow._meta.db_table
    columns = ", ".join(("snapshot_id", *ROW_FIELDS))
    lows = {snapshot_id: min(r.pat_num for r in rows) for snapshot_id, rows in batches.items()}
    # savepoint=False: join the caller's transaction (batch + heartbeat) without extra trips.
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit TO OFF")
        # The usual case (rows arrive in PatNum order) has nothing stored at or past a batch's
        # first PatNum: one index probe per snapshot, in one statement, and a DELETE only for
        # a re-fetched batch.
        cursor.execute(
            "SELECT s.id FROM unnest(%s::bigint[], %s::bigint[]) AS s(id, lo) WHERE EXISTS"  # noqa: S608
            f" (SELECT 1 FROM {table} WHERE snapshot_id = s.id AND pat_num >= s.lo)",
            [list(lows), list(lows.values())],
        )
        for (snapshot_id,) in cursor.fetchall():
            pats = [r.pat_num for r in batches[snapshot_id]]
            cursor.execute(
                f"DELETE FROM {table} WHERE snapshot_id = %s"  # noqa: S608
                " AND pat_num BETWEEN %s AND %s AND pat_num = ANY(%s)",
                [snapshot_id, min(pats), max(pats), pats],
            )
        with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for chunk in _copy_chunks(batches):
                copy.write(chunk)


# COPY's text format: backslash escapes for the characters that delimit it; NUL, which no
# Postgres text can hold, is dropped (a name is display text).
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\x00": ""})
_COPY_SPECIAL = re.compile(r"[\\\t\n\r\x00]")
_COPY_CHUNK_ROWS = 500


def _copy_chunks(batches: dict[int, list[Row]]) -> Iterator[str]:
    """The rows as COPY text, formatted here: psycopg's ``write_row`` passes every value
    through its dumpers one by one, which cost more than the rest of a refresh's writing
    (docs/benchmarks.md). Only the name is
    text; the rest are ints and Decimals, whose ``str`` Postgres reads back exactly.

    In chunks: psycopg sends each from its own thread while the next is formatted (one
    string for a whole batch was slower, docs/benchmarks.md).
    """
    for snapshot_id, rows in batches.items():
        for start in range(0, len(rows), _COPY_CHUNK_ROWS):
            stop = start + _COPY_CHUNK_ROWS
            yield "".join(map(_copy_line, repeat(str(snapshot_id)), rows[start:stop]))


def _copy_line(snapshot_id: str, r: Row) -> str:
    name = r.name
    if _COPY_SPECIAL.search(name):  # rare: translate costs more than the rest of the line
        name = name.translate(_COPY_ESCAPES)
    return "\t".join((snapshot_id, str(r[0]), str(r[1]), name, *map(str, r[3:]))) + "\n"


def _totals(per_clinic: list[dict]) -> dict:
    totals = {"guarantors": sum(c["guarantors"] for c in per_clinic)}
    totals.update({b: sum((c[b] for c in per_clinic), Decimal("0")) for b in AGING_BUCKETS})
    return totals


def snapshot_complete(
    snapshot: AgingSnapshot, *, make_current: bool = True, next_aging_at: datetime | None = None
) -> AgingSnapshot:
    """Total the rows, mark complete and (daily refresh) make it the office's current one,
    with the office's next refresh time if given."""
    snapshots_complete([(snapshot, next_aging_at)], make_current=make_current)
    return snapshot


@transaction.atomic(savepoint=False)
def snapshots_complete(
    done: list[tuple[AgingSnapshot, datetime | None]], *, make_current: bool = True
) -> None:
    """``snapshot_complete`` for many snapshots: one totals query, one UPDATE per table."""
    if not done:
        return
    grouped = (
        AgingRow.objects.filter(snapshot__in=[snapshot for snapshot, _ in done])
        .values("snapshot_id", "clinic_num")
        .annotate(guarantors=Count("id"), **{b: Sum(b) for b in AGING_BUCKETS})
        .order_by("snapshot_id", "clinic_num")
    )
    per_snapshot: dict[int, list[dict]] = {snapshot.pk: [] for snapshot, _ in done}
    for g in grouped:
        per_snapshot[g["snapshot_id"]].append(
            {"guarantors": g["guarantors"], **{b: g[b] or Decimal("0") for b in AGING_BUCKETS}}
            | {"clinic_num": g["clinic_num"]}
        )
    now = timezone.now()
    offices: dict[tuple[str, ...], list[Office]] = {}
    for snapshot, next_aging in done:
        per_clinic_rows = per_snapshot[snapshot.pk]
        snapshot.clinic_totals = {
            str(c["clinic_num"]): {k: str(v) for k, v in c.items() if k != "clinic_num"}
            for c in per_clinic_rows
        }
        totals = _totals(per_clinic_rows)
        snapshot.guarantor_count = totals.pop("guarantors")
        for bucket, value in totals.items():
            setattr(snapshot, bucket, value)
        snapshot.state, snapshot.completed_at = SnapshotState.COMPLETE, now
        office_fields: dict = {} if next_aging is None else {"next_aging_at": next_aging}
        if make_current:
            office_fields["current_snapshot"] = snapshot
            office_fields.update({f: getattr(snapshot, b) for f, b in OFFICE_AGING_FIELDS.items()})
        if office_fields:  # offices grouped by the fields they change: one UPDATE a group
            office = Office(pk=snapshot.office_id, **office_fields)
            offices.setdefault(tuple(office_fields), []).append(office)
    bulk.rows_update(
        [snapshot for snapshot, _ in done],
        ["guarantor_count", *AGING_BUCKETS, "clinic_totals", "state", "completed_at"],
    )
    for fields, group in offices.items():  # the UPDATE locks the rows as FOR UPDATE would
        bulk.rows_update(group, fields)


def snapshot_fail(snapshot: AgingSnapshot) -> None:
    """Give up on a snapshot: drop its rows; the current snapshot is untouched."""
    AgingRow.objects.filter(snapshot=snapshot).delete()
    AgingSnapshot.objects.filter(pk=snapshot.pk).update(state=SnapshotState.FAILED)


def snapshots_prune(*, now: datetime | None = None) -> int:
    """Delete snapshots older than the retention period, never an office's current one."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.SNAPSHOT_RETENTION_DAYS)
    current = Office.objects.exclude(current_snapshot=None).values("current_snapshot")
    old = AgingSnapshot.objects.filter(fetched_at__lt=cutoff).exclude(pk__in=current)
    stale_building = AgingSnapshot.objects.filter(
        Q(state=SnapshotState.BUILDING) | Q(state=SnapshotState.FAILED),
        fetched_at__lt=(now or timezone.now()) - timedelta(days=2),
    ).exclude(pk__in=current)
    count = 0
    for qs in (old, stale_building):
        for snapshot in qs.only("pk"):
            AgingRow.objects.filter(snapshot=snapshot).delete()
            snapshot.delete()
            count += 1
    return count
