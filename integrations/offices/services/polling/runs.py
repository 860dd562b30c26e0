"""Poll runs: the row that is the claim, claimed for work, heartbeats, finished.

The unfinished PollRun row *is* the lock: a partial unique constraint allows one queued or
running run per office and kind, and a worker starts work only after a conditional UPDATE moved
that row from queued (or stale running) to running. A retried, duplicated or redelivered task
therefore finds nothing to do.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from integrations.offices.models import ACTIVE_OUTCOMES, CustomerKey, Office, PollRun, RunOutcome
from odportal.lib import bulk

logger = logging.getLogger(__name__)


class RequestCounter:
    """Counts requests for the run row (passed to the client as on_request)."""

    def __init__(self, run: PollRun) -> None:
        self.run = run

    def __call__(self, method: str, path: str, status: int | None, elapsed: float) -> None:
        self.run.requests += 1


def _stale_cutoff():
    return timezone.now() - timedelta(seconds=settings.CLAIM_STALE_AFTER_S)


def stale_q() -> Q:
    """Runs anyone may take over: running without a heartbeat for ``CLAIM_STALE_AFTER_S``
    (the worker was killed or lost), or queued and not started ``QUEUED_STALE_AFTER_S`` after
    it was due (its message was lost with the broker). A queued run's ``heartbeat_at``, when
    set, is when its task is due (``run_release``); a backlog alone is not staleness."""
    queued_cutoff = timezone.now() - timedelta(seconds=settings.QUEUED_STALE_AFTER_S)
    return (
        Q(outcome=RunOutcome.RUNNING, heartbeat_at__lt=_stale_cutoff())
        | Q(outcome=RunOutcome.QUEUED, heartbeat_at__isnull=True, queued_at__lt=queued_cutoff)
        | Q(outcome=RunOutcome.QUEUED, heartbeat_at__lt=queued_cutoff)
    )


def run_create(
    *,
    office: Office,
    kind: str,
    actor: AbstractBaseUser | None = None,
    as_of: date | None = None,
    clinic_num: int | None = None,
) -> tuple[PollRun, bool]:
    """A queued run of one office and kind, unless one is active already: (run, created)."""
    _stale_expire([office.pk], kind)
    user = actor if getattr(actor, "is_authenticated", False) else None
    try:
        with transaction.atomic():
            run = PollRun.objects.create(
                office=office, kind=kind, requested_by=user, as_of=as_of, clinic_num=clinic_num
            )
    except IntegrityError:
        active = PollRun.objects.filter(
            office=office, kind=kind, outcome__in=ACTIVE_OUTCOMES
        ).first()
        if active is not None:
            return active, False
        raise
    return run, True


def runs_create(offices: list[Office], kind: str) -> dict[int, int]:
    """``run_create`` for many offices in four statements (the sweep's path): a queued run of
    ``kind`` for each office without an active one; {office id: new run id}.

    The rows are told apart from a run someone else created meanwhile (a "Poll now" that won
    the partial unique constraint: skipped here, not an error) by their exact queued time.
    """
    ids = [office.pk for office in offices]
    now = timezone.now()
    _stale_expire(ids, kind)
    active = set(
        PollRun.objects.filter(office_id__in=ids, kind=kind, outcome__in=ACTIVE_OUTCOMES)
        .values_list("office_id", flat=True)
    )  # fmt: skip
    fresh = [PollRun(office_id=pk, kind=kind, queued_at=now) for pk in ids if pk not in active]
    if not fresh:
        return {}
    PollRun.objects.bulk_create(fresh, ignore_conflicts=True)
    return dict(
        PollRun.objects.filter(
            office_id__in=[run.office_id for run in fresh], kind=kind,
            outcome=RunOutcome.QUEUED, queued_at=now,
        ).values_list("office_id", "pk")
    )  # fmt: skip


def _stale_expire(office_ids: list[int], kind: str) -> None:
    """Fail these offices' stale runs of ``kind``: a stale claim must not block an office for
    ever."""
    PollRun.objects.filter(office_id__in=office_ids, kind=kind).filter(stale_q()).update(
        outcome=RunOutcome.FAILED, finished_at=timezone.now(), error="stale claim expired"
    )


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


def runs_current_keys(claimed: list[PollRun]) -> dict[int, CustomerKey]:
    """Each claimed run's office's current key, by office id, in one query (a batch's)."""
    offices = [r.office for r in claimed]
    return {k.office_id: k for k in CustomerKey.objects.filter(office__in=offices, is_current=True)}


def run_heartbeat(run: PollRun, **counters: int) -> None:
    """Record progress (requests, rows) and prove the worker is alive."""
    for name, value in counters.items():
        setattr(run, name, value)
    run.heartbeat_at = timezone.now()
    PollRun.objects.filter(pk=run.pk).update(heartbeat_at=run.heartbeat_at, **counters)


def runs_heartbeat(active: list[PollRun]) -> None:
    """``run_heartbeat`` for many runs, with their counters, in one statement."""
    now = timezone.now()
    for run in active:
        run.heartbeat_at = now
    bulk.rows_update(active, ["heartbeat_at", "requests", "rows"])


def run_release(run: PollRun, *, error: str, resume_in: float = 0.0) -> None:
    """Put a running run back to queued, due in ``resume_in`` seconds (a retry claims it)."""
    due = timezone.now() + timedelta(seconds=resume_in)
    PollRun.objects.filter(pk=run.pk, outcome=RunOutcome.RUNNING).update(
        outcome=RunOutcome.QUEUED, error=error[:2000], requests=run.requests, rows=run.rows,
        heartbeat_at=due,
    )  # fmt: skip


@contextmanager
def run_heartbeating(run: PollRun) -> Iterator[None]:
    """Prove the worker alive for ``run`` every ``HEARTBEAT_EVERY_S`` while the block runs,
    however long one Open Dental call takes: a thread with its own database connection. So a
    run goes stale (taken over) soon after its worker dies, and never while it lives."""
    if connection.in_atomic_block:  # a caller's transaction (tests): its row is not visible
        yield
        return
    stop = threading.Event()
    thread = threading.Thread(target=_beat, args=(run, stop), name=f"heartbeat-{run.pk}")
    thread.daemon = True
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _beat(run: PollRun, stop: threading.Event) -> None:
    try:
        while not stop.wait(settings.HEARTBEAT_EVERY_S):
            PollRun.objects.filter(
                pk=run.pk, outcome=RunOutcome.RUNNING, claimed_by=run.claimed_by
            ).update(heartbeat_at=timezone.now())
    except DatabaseError:  # the run's own writes meet the same fault and say so
        logger.warning("heartbeat of run %s stopped: database unavailable", run.pk)
    finally:
        connection.close()  # this thread's connection


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


def runs_finish_ok(done: list[PollRun]) -> None:
    """``run_finish`` with outcome OK for many runs, in one statement."""
    now = timezone.now()
    for run in done:
        run.outcome, run.finished_at, run.error, run.status_code = RunOutcome.OK, now, "", None
    bulk.rows_update(done, ["outcome", "finished_at", "error", "status_code", "requests", "rows"])
