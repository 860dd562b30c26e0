"""Execute one poll run (a task each): claim it, then a health poll or an aging refresh.

``run_execute`` returns ``None`` when the run is finished (whatever its outcome) or a number of
seconds after which the task should run again: the key's next throttle slot is far away (so the
worker slot serves other offices meanwhile), or a transient fault deserves a retry.
"""

from __future__ import annotations

import random
import time

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from integrations import opendental as od
from integrations.offices.models import (
    AgingSnapshot,
    CustomerKey,
    Office,
    PollKind,
    PollRun,
    RunOutcome,
)
from integrations.offices.services import health
from integrations.offices.services.aging import recipe, snapshots
from integrations.offices.services.clients import NoKey, office_client
from integrations.offices.services.polling import outcomes, runs


def run_execute(run_id: int, *, claimer: str = "") -> float | None:
    """Claim and execute one poll run; None when done, else seconds until it should resume."""
    run = runs.run_claim(run_id, claimer=claimer)
    if run is None:
        return None  # done already, or another worker holds it
    office = run.office
    key = office.keys.filter(is_current=True).first()
    if outcomes.run_skip_if_polling_off(run):
        return None
    with runs.run_heartbeating(run):
        try:
            client = office_client(
                office=office, key=key, on_request=runs.RequestCounter(run),
                max_pace_wait_s=settings.MAX_INLINE_PACE_WAIT_S,
            )  # fmt: skip
            if run.kind == PollKind.HEALTH:
                _health(run, office, key, client)
            else:
                _aging(run, office, client)
        except NoKey as exc:
            runs.run_finish(run, outcome=RunOutcome.SKIPPED, error=str(exc))
        except od.PaceDeferred as exc:
            resume_in = exc.retry_after or settings.MAX_INLINE_PACE_WAIT_S
            runs.run_release(run, error="", resume_in=resume_in)
            return resume_in
        except od.OpenDentalError as exc:
            return outcomes.run_fault(run, office, key, exc)
    return None


def _health(run: PollRun, office: Office, key: CustomerKey, client: od.OpenDentalClient) -> None:
    manual = run.requested_by_id is not None  # "Poll now": the person wants every fact fresh
    if health.health_is_full(office, key, manual=manual, now=timezone.now()):
        health.office_health_record_ok(office=office, key=key, result=health.health_fetch(client))
    else:
        health.office_liveness_record_ok(office=office, result=health.liveness_fetch(client))
    runs.run_finish(run, outcome=RunOutcome.OK)


def _aging(run: PollRun, office: Office, client: od.OpenDentalClient) -> None:
    """Daily refresh (recipe) or an as-of-date report, page by page, resumable."""
    # A run resumed after a deferral or a fault continues its snapshot (one per run at most)
    # without asking again.
    snapshot = AgingSnapshot.objects.filter(run=run).first()
    if snapshot is not None:
        stored = snapshots.snapshot_row_count(snapshot)
    else:
        if run.kind == PollKind.AGING_AS_OF:
            source, as_of = recipe.as_of_plan(run, office)
        else:
            plan = recipe.daily_plan_fetch(client, office, timezone.now())
            if plan.wait_until is not None:
                outcomes.aging_run_wait(run, plan.wait_until)
                return
            source, as_of = plan.source, plan.as_of
        snapshot, stored = snapshots.snapshot_open(
            run=run, source=source, as_of=as_of, clinic_num=run.clinic_num
        )
    last_batch = _fetch_pages(run, snapshot, client, stored)
    outcomes.aging_runs_complete([(run, snapshot, office)], {snapshot.pk: last_batch})


def _fetch_pages(
    run: PollRun, snapshot: AgingSnapshot, client: od.OpenDentalClient, offset: int
) -> list[snapshots.Row]:
    """Fetch from ``offset`` (the snapshot's stored rows) until the last page; returns the
    last batch, which the caller writes in the completing transaction.

    Rows are written (with a heartbeat) in batches rather than per page: a page costs one
    request, but a write costs a transaction. Any other exit (deferred to the next throttle
    slot, a fault) writes what was fetched first, so progress survives and a resumed run
    starts after the stored rows.
    """
    batch: list[snapshots.Row] = []
    done = False
    # A sweep starts many refreshes at once; a random start to each one's flush cycle keeps
    # their writes from landing together (bursts that stall everything else on the machine).
    flushed_at = time.monotonic() - random.uniform(0, settings.HEARTBEAT_EVERY_S)  # noqa: S311
    batch_rows = random.randint(settings.INGEST_BATCH_ROWS // 2, settings.INGEST_BATCH_ROWS)  # noqa: S311
    try:
        while True:
            page = recipe.AgingPage(snapshot, offset)
            rows = page.fetch(client)
            batch.extend(rows)
            offset += len(rows)
            if page.is_last(rows, client):
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


def _flush(run: PollRun, snapshot: AgingSnapshot, batch: list[snapshots.Row], offset: int) -> None:
    """Write a batch of rows and the run's progress in one transaction."""
    with transaction.atomic():
        snapshots.snapshot_rows_ingest(snapshot, batch)
        runs.run_heartbeat(run, requests=run.requests, rows=offset)
