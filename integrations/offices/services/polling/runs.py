"""Poll runs: enqueue (the claim row), claim for work, heartbeat, finish.

The unfinished PollRun row *is* the lock: a partial unique constraint allows one queued or
running run per office and kind, and a worker starts work only after a conditional UPDATE moved
that row from queued (or stale running) to running. A retried, duplicated or redelivered task
therefore finds nothing to do.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from integrations.offices.models import Office, PollKind, PollRun, RunOutcome
from odportal.lib import bulk

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
    from integrations.offices.tasks import poll_run_task

    with poll_run_task.app.producer_or_acquire() as producer:
        # Fail fast: by default kombu keeps reconnecting for ~8 s, and a "Poll now" click
        # (or a sweep) would hang that long before saying the workers are unavailable.
        producer.connection.ensure_connection(**BROKER_FAIL_FAST)
        yield producer


def run_send(run: PollRun) -> None:
    """Hand a queued run to the workers; a broker outage fails the run with a clear message."""
    from integrations.offices.tasks import poll_run_task

    _send_or_fail([run.pk], lambda producer: poll_run_task.apply_async(
        args=[run.pk], retry=False, producer=producer
    ))  # fmt: skip


def runs_send_batch(run_ids: list[int]) -> None:
    """Hand queued aging runs to the workers as one batch task (``run_send``, many at once)."""
    from integrations.offices.tasks import aging_batch_task

    _send_or_fail(run_ids, lambda producer: aging_batch_task.apply_async(
        args=[run_ids], retry=False, producer=producer
    ))  # fmt: skip


def _send_or_fail(run_ids: list[int], send: Callable[[Any], Any]) -> None:
    try:
        with broker_producer() as producer:
            send(producer)
    except Exception as exc:  # kombu raises many types for "broker down"
        logger.warning("could not queue poll runs %s: %s", run_ids[:10], type(exc).__name__)
        PollRun.objects.filter(pk__in=run_ids, outcome=RunOutcome.QUEUED).update(
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


def _claimable(claimer: str) -> Q:
    """Runs a worker may start: queued, running but stale, or already its own (redelivered)."""
    claimable = Q(outcome=RunOutcome.QUEUED) | Q(
        outcome=RunOutcome.RUNNING, heartbeat_at__lt=_stale_cutoff()
    )
    if claimer:
        claimable |= Q(outcome=RunOutcome.RUNNING, claimed_by=claimer)
    return claimable


def _claim_update(now) -> dict[str, Any]:
    return {
        "outcome": RunOutcome.RUNNING, "started_at": now, "heartbeat_at": now,
        "attempts": F("attempts") + 1,
    }  # fmt: skip


def run_claim(run_id: int, *, claimer: str = "") -> PollRun | None:
    """Move a run to running if it is queued (or running but stale, or ours); else None."""
    claimed = (
        PollRun.objects.filter(pk=run_id)
        .filter(_claimable(claimer))
        .update(claimed_by=claimer, **_claim_update(timezone.now()))
    )
    if claimed != 1:
        return None
    return PollRun.objects.select_related("office", "office__account").get(pk=run_id)


def runs_claim(run_ids: list[int], *, claimer: str) -> list[PollRun]:
    """``run_claim`` for many runs in two statements: those this claimer now holds.

    ``claimer`` must be unique to the caller (a task id): it tells our claims from others'.
    """
    if not claimer:
        raise ValueError("a batch claim needs the claimer's id")
    PollRun.objects.filter(pk__in=run_ids).filter(_claimable(claimer)).update(
        claimed_by=claimer, **_claim_update(timezone.now())
    )
    return list(
        PollRun.objects.select_related("office", "office__account").filter(
            pk__in=run_ids, outcome=RunOutcome.RUNNING, claimed_by=claimer
        )
    )


def runs_heartbeat(active: list[PollRun]) -> None:
    """``run_heartbeat`` for many runs, with their counters, in one statement."""
    now = timezone.now()
    for run in active:
        run.heartbeat_at = now
    bulk.rows_update(active, ["heartbeat_at", "requests", "rows"])


def runs_finish_ok(done: list[PollRun]) -> None:
    """``run_finish`` with outcome OK for many runs, in one statement."""
    now = timezone.now()
    for run in done:
        run.outcome, run.finished_at, run.error, run.status_code = RunOutcome.OK, now, "", None
    bulk.rows_update(done, ["outcome", "finished_at", "error", "status_code", "requests", "rows"])


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
