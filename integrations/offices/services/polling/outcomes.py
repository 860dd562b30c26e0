"""How a run ends, for both engines: skipped, waiting for today's aging, completed, or a fault
on the office (released to resume, or failed). Open Dental faults never escape as exceptions:
they become the office's status and the run's error."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

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
    SnapshotState,
)
from integrations.offices.services import health
from integrations.offices.services.aging import recipe, snapshots
from integrations.offices.services.polling import runs


def run_skip_if_polling_off(run: PollRun) -> bool:
    """Finish (skipped) a run of an office whose polling is off, unless a user asked for it;
    True when it did."""
    if run.office.polling_enabled or run.requested_by_id is not None:
        return False
    runs.run_finish(run, outcome=RunOutcome.SKIPPED, error="Polling is off for this office.")
    return True


def aging_run_wait(run: PollRun, wait_until: datetime) -> None:
    """Today's aging has not run yet (recipe: wait): the run ends, the office tries again then."""
    runs.run_finish(run, outcome=RunOutcome.SKIPPED, error="Waiting for today's aging run.")
    Office.objects.filter(pk=run.office_id).update(next_aging_at=wait_until)


@transaction.atomic(savepoint=False)
def aging_runs_complete(
    done: list[tuple[PollRun, AgingSnapshot, Office]], rows: dict[int, list[snapshots.Row]]
) -> None:
    """In one transaction: the fetched rows written (by snapshot id), each finished refresh's
    snapshot totalled and completed (a daily one becomes its office's current, with the next
    refresh time), and its run finished OK."""
    snapshots.snapshots_rows_ingest(rows)
    now = timezone.now()
    daily = [(s, recipe.next_aging_at(o, now)) for r, s, o in done if r.kind == PollKind.AGING]
    as_of = [(s, None) for r, s, _ in done if r.kind != PollKind.AGING]
    snapshots.snapshots_complete(daily)
    snapshots.snapshots_complete(as_of, make_current=False)
    runs.runs_finish_ok([run for run, _, _ in done])
    if done:
        health.offices_record_answered(office_ids=[office.pk for _, _, office in done])


def run_fault(
    run: PollRun, office: Office, key: CustomerKey | None, exc: od.OpenDentalError
) -> float | None:
    """Record the fault on the office; a transient fault of an aging run releases the run and
    returns the seconds to wait before resuming it (backoff), else the run fails: None."""
    health.office_health_record_error(office=office, key=key, exc=exc)
    error = health.error_text(exc)
    if (
        run.kind != PollKind.HEALTH
        and not exc.permanent
        and run.attempts < settings.RUN_MAX_ATTEMPTS
    ):
        resume_in = min(600.0, 5.0 * 2**run.attempts) * random.uniform(0.5, 1.0)  # noqa: S311
        runs.run_release(run, error=error, resume_in=resume_in)
        return resume_in
    building = run.agingsnapshot_set.filter(state=SnapshotState.BUILDING).first()
    if building is not None:
        snapshots.snapshot_fail(building)
    runs.run_finish(run, outcome=RunOutcome.FAILED, error=error, status_code=exc.status)
    if run.kind == PollKind.AGING:  # try again within the day, not only tomorrow
        retry_at = timezone.now() + timedelta(seconds=settings.AGING_RETRY_AFTER_FAILURE_S)
        Office.objects.filter(pk=office.pk).update(next_aging_at=retry_at)
    return None
