"""Poll runs: enqueue (the claim row), claim for work, heartbeat, finish.

The unfinished PollRun row *is* the lock: a partial unique constraint allows one queued or
running run per office and kind, and a worker starts work only after a conditional UPDATE moved
that row from queued (or stale running) to running. A retried, duplicated or redelivered task
therefore finds nothing to do.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from integrations.models import Office, PollKind, PollRun, RunOutcome

logger = logging.getLogger(__name__)


# One quick reconnect attempt before a send gives up on the broker.
BROKER_FAIL_FAST = {"max_retries": 1, "interval_start": 0.2, "interval_step": 0.2, "timeout": 2}


class WorkersUnavailable(Exception):
    """The broker could not be reached, so nothing was queued."""


def _stale_cutoff():
    return timezone.now() - timedelta(seconds=settings.CLAIM_STALE_AFTER_S)


def _expire_stale(office: Office, kind: str) -> None:
    """Fail runs whose worker stopped heartbeating (killed, lost) so a new run may start."""
    cutoff = _stale_cutoff()
    PollRun.objects.filter(office=office, kind=kind).filter(
        Q(outcome=RunOutcome.RUNNING, heartbeat_at__lt=cutoff)
        | Q(outcome=RunOutcome.QUEUED, queued_at__lt=cutoff)
    ).update(outcome=RunOutcome.FAILED, finished_at=timezone.now(), error="stale claim expired")


def poll_enqueue(
    *,
    office: Office,
    kind: str = PollKind.HEALTH,
    actor: AbstractBaseUser | None = None,
    as_of: date | None = None,
    clinic_num: int | None = None,
    send: bool = True,
) -> tuple[PollRun, bool]:
    """Queue a poll of one office unless one of that kind is already active: (run, created)."""
    _expire_stale(office, kind)
    user = actor if getattr(actor, "is_authenticated", False) else None
    try:
        with transaction.atomic():
            run = PollRun.objects.create(
                office=office, kind=kind, requested_by=user, as_of=as_of, clinic_num=clinic_num
            )
    except IntegrityError:
        active = PollRun.objects.filter(
            office=office, kind=kind, outcome__in=[RunOutcome.QUEUED, RunOutcome.RUNNING]
        ).first()
        if active is not None:
            return active, False
        raise
    if send:
        transaction.on_commit(lambda: run_send(run))
    return run, True


@contextmanager
def broker_producer() -> Iterator[Any]:
    """A producer from the app's pool, connected to the broker (or raising quickly)."""
    from integrations.tasks import poll_run_task

    with poll_run_task.app.producer_or_acquire() as producer:
        # Fail fast: by default kombu keeps reconnecting for ~8 s, and a "Poll now" click
        # (or a sweep) would hang that long before saying the workers are unavailable.
        producer.connection.ensure_connection(**BROKER_FAIL_FAST)
        yield producer


def run_send(run: PollRun) -> None:
    """Hand a queued run to the workers; a broker outage fails the run with a clear message."""
    from integrations.tasks import poll_run_task

    try:
        with broker_producer() as producer:
            poll_run_task.apply_async(args=[run.pk], retry=False, producer=producer)
    except Exception as exc:  # kombu raises many types for "broker down"
        logger.warning("could not queue poll run %s: %s", run.pk, type(exc).__name__)
        PollRun.objects.filter(pk=run.pk, outcome=RunOutcome.QUEUED).update(
            outcome=RunOutcome.FAILED,
            finished_at=timezone.now(),
            error="Workers unavailable: the task broker could not be reached.",
        )
        raise WorkersUnavailable(str(exc)) from exc


def runs_resend_stale(*, limit: int = 500) -> int:
    """Send again the runs whose message was lost: worker killed mid-run, or broker restarted.

    A stale run is claimable by anyone, so the first copy to arrive resumes it (an aging
    refresh continues from its stored rows) and any extra copy finds nothing to do. Without
    this a killed worker's run waits for the broker's visibility timeout (an hour), and a
    run whose message vanished with the broker never comes back until its office is due.
    """
    cutoff = _stale_cutoff()
    stale = PollRun.objects.filter(
        Q(outcome=RunOutcome.RUNNING, heartbeat_at__lt=cutoff)
        | Q(outcome=RunOutcome.QUEUED, queued_at__lt=cutoff)
    ).order_by("pk")[:limit]
    count = 0
    for run in stale:
        run_send(run)  # WorkersUnavailable propagates: the next sweep tries again
        count += 1
    return count


def run_claim(run_id: int, *, claimer: str = "") -> PollRun | None:
    """Move a run to running if it is queued (or running but stale, or ours); else None."""
    now = timezone.now()
    claimable = Q(outcome=RunOutcome.QUEUED) | Q(
        outcome=RunOutcome.RUNNING, heartbeat_at__lt=_stale_cutoff()
    )
    if claimer:
        claimable |= Q(outcome=RunOutcome.RUNNING, claimed_by=claimer)
    claimed = (
        PollRun.objects.filter(pk=run_id)
        .filter(claimable)
        .update(
            outcome=RunOutcome.RUNNING,
            started_at=now,
            heartbeat_at=now,
            claimed_by=claimer,
            attempts=F("attempts") + 1,
        )
    )
    if claimed != 1:
        return None
    return PollRun.objects.select_related("office", "office__account").get(pk=run_id)


def run_heartbeat(run: PollRun, **counters: int) -> None:
    """Record progress (requests, rows) and prove the worker is alive."""
    for name, value in counters.items():
        setattr(run, name, value)
    run.heartbeat_at = timezone.now()
    PollRun.objects.filter(pk=run.pk).update(heartbeat_at=run.heartbeat_at, **counters)


def run_release(run: PollRun, *, error: str) -> None:
    """Put a running run back to queued (a retry will claim it again)."""
    PollRun.objects.filter(pk=run.pk, outcome=RunOutcome.RUNNING).update(
        outcome=RunOutcome.QUEUED, error=error[:2000], requests=run.requests, rows=run.rows
    )


def run_finish(
    run: PollRun, *, outcome: str, error: str = "", status_code: int | None = None
) -> None:
    """Close a run with its outcome and counters."""
    run.outcome = outcome
    run.finished_at = timezone.now()
    run.error = error[:2000]
    run.status_code = status_code
    PollRun.objects.filter(pk=run.pk).update(
        outcome=outcome,
        finished_at=run.finished_at,
        error=run.error,
        status_code=status_code,
        requests=run.requests,
        rows=run.rows,
    )
