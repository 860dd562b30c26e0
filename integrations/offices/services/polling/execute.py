"""Polling workflows: the sweep that finds due offices, and the execution of one poll run.

``run_execute`` returns ``None`` when the run is finished (whatever its outcome) or a number of
seconds after which the task should run again: the key's next throttle slot is far away (so the
worker slot serves other offices meanwhile), or a transient fault deserves a retry. Open Dental
faults never escape as exceptions; they become the office's status and the run's error.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from integrations import opendental as od
from integrations.offices.models import (
    AgingSnapshot,
    CustomerKey,
    KeyStatus,
    Office,
    OfficeStatus,
    PollKind,
    PollRun,
    RunOutcome,
    SnapshotSource,
    SnapshotState,
)
from integrations.offices.services import health
from integrations.offices.services.aging import snapshots as aging
from integrations.offices.services.clients import NoKey, office_client
from integrations.offices.services.polling import runs

logger = logging.getLogger(__name__)


class RequestCounter:
    """Counts requests for the run row (passed to the client as on_request)."""

    def __init__(self, run: PollRun) -> None:
        self.run = run

    def __call__(self, method: str, path: str, status: int | None, elapsed: float) -> None:
        self.run.requests += 1


# --- sweep -----------------------------------------------------------------------------------


def _settle_moved_keys(now: datetime) -> None:
    """Keys whose 15-minute move window has passed are enabled again."""
    for key in CustomerKey.objects.filter(status=KeyStatus.PENDING_MOVE, pending_until__lte=now):
        key.status = KeyStatus.ENABLED
        key.pending_until = None
        key.enabled_at = now
        key.save(update_fields=["status", "pending_until", "enabled_at"])


# Key states that Open Dental reported (not our own decisions): a health poll finds out when
# they end, and a successful one marks the key enabled again.
RECHECKED_KEY_STATUSES = (KeyStatus.DISABLED_BY_CUSTOMER, KeyStatus.DISABLED_BY_HQ)
HEALTH_POLLED_KEY_STATUSES = (KeyStatus.ENABLED, *RECHECKED_KEY_STATUSES)


def offices_pollable():
    """Offices with polling on and an enabled current key (not disabled, not pending a move)."""
    return Office.objects.filter(
        polling_enabled=True, keys__is_current=True, keys__status=KeyStatus.ENABLED
    ).exclude(account__developer_key_encrypted="")


def offices_health_pollable():
    """Pollable offices, and those whose current key Open Dental reported disabled.

    Nobody tells us when an office enables its key again in Open Dental, so such keys keep
    being checked, at the slower ``KEY_DISABLED_RECHECK_S`` (see ``health.next_health_at``).
    A key we disabled ourselves is not polled, nor one within 15 minutes of a move.
    """
    return Office.objects.filter(
        polling_enabled=True, keys__is_current=True, keys__status__in=HEALTH_POLLED_KEY_STATUSES
    ).exclude(account__developer_key_encrypted="")


def next_health_check(
    office: Office, keys: list[CustomerKey], now: datetime | None = None
) -> tuple[datetime | None, str]:
    """When the sweep next health-polls the office, or why not (for the office page).

    Mirrors ``offices_health_pollable``: (time, "") when one is planned, else (None, reason).
    """
    now = now or timezone.now()
    current = next((k for k in keys if k.is_current), None)
    if not office.polling_enabled:
        return None, "Polling is off for this office."
    if not office.account.has_developer_key:
        return None, "Not polled: the account has no developer key."
    if current is None:
        return None, "Not polled: the office has no current key."
    if current.status == KeyStatus.PENDING_MOVE:
        return None, "Not polled until the moved key works here (up to 15 minutes)."
    if current.status not in HEALTH_POLLED_KEY_STATUSES:
        return None, "Not polled: the current key is disabled."
    if office.next_health_at is None or office.next_health_at <= now:
        return None, "Due: at the next sweep."
    return office.next_health_at, ""


def sweep_due_offices(*, now: datetime | None = None) -> dict[str, int]:
    """Queue a poll for every due office and re-send lost runs; one failure never stops it."""
    now = now or timezone.now()
    _settle_moved_keys(now)
    queued = {"health": 0, "aging": 0, "failed": 0, "resent": 0}
    due_health = offices_health_pollable().filter(
        Q(next_health_at=None) | Q(next_health_at__lte=now)
    )
    due_aging = offices_pollable().filter(
        Q(next_aging_at=None) | Q(next_aging_at__lte=now), status=OfficeStatus.OK
    )
    for kind, qs in ((PollKind.HEALTH, due_health), (PollKind.AGING, due_aging)):
        offices = qs.select_related("account").iterator(chunk_size=500)
        polls_queue(offices, kind, now=now, counts=queued)  # broker down: the next sweep
    try:
        queued["resent"] = runs.runs_resend_stale()
    except runs.WorkersUnavailable:
        queued["failed"] += 1
    return queued


def polls_queue(
    offices: Iterable[Office],
    kind: str,
    *,
    now: datetime | None = None,
    counts: dict[str, int] | None = None,
) -> tuple[list[int], bool]:
    """Queue a poll of each office (one failure never stops it): (new run ids, broker down).

    Daily aging refreshes go ``AGING_BATCH_SIZE`` to a task (``aging_batch``); health polls
    one each. With ``now`` (the sweep), each office's next poll is pushed past it.
    """
    counts = counts if counts is not None else {kind: 0, "failed": 0}
    batched = kind == PollKind.AGING and settings.AGING_BATCH_SIZE > 1
    created_ids: list[int] = []
    pending: list[tuple[int, Office]] = []

    def send() -> None:
        runs.runs_send_batch([run_id for run_id, _ in pending])
        for _, office in pending:  # only once sent: an unsent office stays due
            _pushed(office)
        pending.clear()

    def _pushed(office: Office) -> None:
        if now is not None:
            _push_next(office, kind, now)

    try:
        for office in offices:
            try:
                run, created = runs.poll_enqueue(office=office, kind=kind, send=not batched)
            except runs.WorkersUnavailable:
                raise
            except Exception:
                logger.exception("could not queue a %s poll of office %s", kind, office.pk)
                counts["failed"] += 1
                continue
            counts[kind] += int(created)
            if created:
                created_ids.append(run.pk)
            if created and batched:
                pending.append((run.pk, office))
                if len(pending) >= settings.AGING_BATCH_SIZE:
                    send()
            else:
                _pushed(office)
        if pending:
            send()
    except runs.WorkersUnavailable:
        counts["failed"] += 1
        return created_ids, True
    return created_ids, False


def _push_next(office: Office, kind: str, now: datetime) -> None:
    if kind == PollKind.HEALTH:
        Office.objects.filter(pk=office.pk).update(
            next_health_at=health.next_health_at(office, now)
        )
    else:
        # Re-armed by the run itself once it knows DateLastAging; this only prevents re-queuing.
        Office.objects.filter(pk=office.pk).update(next_aging_at=aging.next_aging_at(office, now))


# --- one run ---------------------------------------------------------------------------------


def run_execute(run_id: int, *, claimer: str = "") -> float | None:
    """Claim and execute one poll run; None when done, else seconds until it should resume."""
    run = runs.run_claim(run_id, claimer=claimer)
    if run is None:
        return None  # done already, or another worker holds it
    office = run.office
    key = office.keys.filter(is_current=True).first()
    if run_skipped_if_off(run):
        return None
    try:
        client = office_client(
            office=office, key=key, on_request=RequestCounter(run),
            max_pace_wait_s=settings.MAX_INLINE_PACE_WAIT_S,
        )  # fmt: skip
        if run.kind == PollKind.HEALTH:
            _health(run, office, key, client)
        else:
            return _aging(run, office, client)
    except NoKey as exc:
        runs.run_finish(run, outcome=RunOutcome.SKIPPED, error=str(exc))
    except od.PaceDeferred as exc:
        runs.run_release(run, error="")
        return exc.retry_after or settings.MAX_INLINE_PACE_WAIT_S
    except od.OpenDentalError as exc:
        return run_fault(run, office, key, exc)
    return None


def run_skipped_if_off(run: PollRun) -> bool:
    """Skip (finish) a run of an office whose polling is off, unless a user asked for it."""
    if run.office.polling_enabled or run.requested_by_id is not None:
        return False
    runs.run_finish(run, outcome=RunOutcome.SKIPPED, error="Polling is off for this office.")
    return True


def aging_run_wait(run: PollRun, wait_until: datetime) -> None:
    """Today's aging has not run yet (recipe: wait): the run ends, the office tries again then."""
    runs.run_finish(run, outcome=RunOutcome.SKIPPED, error="Waiting for today's aging run.")
    Office.objects.filter(pk=run.office_id).update(next_aging_at=wait_until)


def _health(run: PollRun, office: Office, key: CustomerKey, client: od.OpenDentalClient) -> None:
    result = health.health_fetch(client)
    health.office_health_record_ok(office=office, key=key, result=result)
    runs.run_finish(run, outcome=RunOutcome.OK)


def run_fault(run: PollRun, office: Office, key: CustomerKey | None, exc: od.OpenDentalError):
    """Record the fault on the office; transient faults of aging runs: the run is released
    and the seconds to wait before resuming it are returned (backoff), else None."""
    health.office_health_record_error(office=office, key=key, exc=exc)
    error = health.error_text(exc)
    if (
        run.kind != PollKind.HEALTH
        and not exc.permanent
        and run.attempts < settings.RUN_MAX_ATTEMPTS
    ):
        runs.run_release(run, error=error)
        return min(600.0, 5.0 * 2**run.attempts) * random.uniform(0.5, 1.0)  # noqa: S311
    _abandon_snapshot(run)
    runs.run_finish(run, outcome=RunOutcome.FAILED, error=error, status_code=exc.status)
    if run.kind == PollKind.AGING:  # try again within the day, not only tomorrow
        retry_at = timezone.now() + timedelta(seconds=settings.AGING_RETRY_AFTER_FAILURE_S)
        Office.objects.filter(pk=office.pk).update(next_aging_at=retry_at)
    return None


def _abandon_snapshot(run: PollRun) -> None:
    snapshot = run.agingsnapshot_set.filter(state=SnapshotState.BUILDING).first()
    if snapshot is not None:
        aging.snapshot_fail(snapshot)


def _aging(run: PollRun, office: Office, client: od.OpenDentalClient) -> float | None:
    """Daily refresh (recipe) or an as-of-date report, page by page, resumable."""
    now = timezone.now()
    # A run resumed after a deferral or a fault continues its snapshot (one per run at most)
    # without asking again.
    snapshot = AgingSnapshot.objects.filter(run=run).first()
    if snapshot is not None:
        stored = aging.snapshot_row_count(snapshot)
    else:
        opened = _aging_snapshot_open(run, office, client, now)
        if opened is None:
            return None
        snapshot, stored = opened
    last_batch = _fetch_pages(run, snapshot, client, stored)
    # One commit for the last rows, the snapshot, the office and the run.
    with transaction.atomic():
        aging.snapshot_rows_ingest(snapshot, last_batch)
        next_aging = aging.next_aging_at(office, now) if run.kind == PollKind.AGING else None
        aging.snapshot_complete(
            snapshot, make_current=run.kind == PollKind.AGING, next_aging_at=next_aging
        )
        runs.run_finish(run, outcome=RunOutcome.OK)
    return None


def _aging_snapshot_open(run: PollRun, office: Office, client: od.OpenDentalClient, now):
    """The snapshot to fill and its stored rows, or None when today's aging has not run yet
    (recipe: wait)."""
    if run.kind == PollKind.AGING_AS_OF:
        source, as_of = SnapshotSource.REPORTS_AGING_AS_OF, run.as_of or aging.office_today(office)
    else:
        if not office.granted_permissions:
            office.granted_permissions = sorted(client.granted_permissions())
        last_aging = health.parse_pref_date(client.preference(health.PREF_DATE_LAST_AGING))
        plan = aging.daily_plan(office, last_aging, now)
        if plan.wait_until is not None:
            aging_run_wait(run, plan.wait_until)
            return None
        source, as_of = plan.source, plan.as_of
    return aging.snapshot_open(run=run, source=source, as_of=as_of, clinic_num=run.clinic_num)


def _fetch_pages(
    run: PollRun, snapshot, client: od.OpenDentalClient, offset: int
) -> list[aging.Row]:
    """Fetch from ``offset`` (the snapshot's stored rows) until a short page; returns the
    last batch.

    Rows are written (with a heartbeat) in batches rather than per page: a page costs one
    request, but a write costs a transaction, so batching keeps worker CPU per request low.
    The last batch is left to the caller, which writes it in the completing transaction. Any
    other exit (deferred to the next throttle slot, a fault) writes what was fetched first, so
    progress survives and a resumed run starts after the stored rows.
    """
    page_size = client.page_size if snapshot.source != SnapshotSource.SHORT_QUERY else 100
    batch: list[aging.Row] = []
    done = False
    # A sweep starts many refreshes at once; a random start to each one's flush cycle keeps
    # their writes from landing together (bursts that stall everything else on the machine).
    flushed_at = time.monotonic() - random.uniform(0, settings.HEARTBEAT_EVERY_S)  # noqa: S311
    batch_rows = random.randint(settings.INGEST_BATCH_ROWS // 2, settings.INGEST_BATCH_ROWS)  # noqa: S311
    try:
        while True:
            page = _page(client, snapshot, offset)
            batch.extend(page)
            offset += len(page)
            if len(page) < page_size:
                run.rows, done = offset, True
                return batch
            if len(batch) >= batch_rows or (
                time.monotonic() - flushed_at >= settings.HEARTBEAT_EVERY_S
            ):
                _flush(run, snapshot, batch, offset)
                batch, flushed_at = [], time.monotonic()
                batch_rows = settings.INGEST_BATCH_ROWS
    finally:
        if not done:
            _flush(run, snapshot, batch, offset)


def _flush(run: PollRun, snapshot, batch: list[aging.Row], offset: int) -> None:
    """Write a batch of rows and the run's progress in one transaction."""
    with transaction.atomic():
        aging.snapshot_rows_ingest(snapshot, batch)
        runs.run_heartbeat(run, requests=run.requests, rows=offset)


def _page(client: od.OpenDentalClient, snapshot, offset: int) -> list[aging.Row]:
    if snapshot.source == SnapshotSource.SHORT_QUERY:
        page = client.short_query(aging.AGING_SQL, offset, row_type=aging.QueryRow)
        return aging.rows_from_query(page)
    raw = client.request("GET", "/reports/Aging", params=aging.report_params(snapshot, offset))
    return aging.rows_from_report(raw, snapshot.clinic_num)
