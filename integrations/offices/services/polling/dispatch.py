"""Dispatch: queue a poll (its run row, then its task) and hand runs to the workers.

Tasks are sent by name, so the services never import ``tasks`` (which imports them): one
direction, no cycle. A broker outage fails the queued runs with a clear message and raises
``WorkersUnavailable``; nothing is left looking queued.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from integrations.offices.models import Office, PollKind, PollRun, RunOutcome
from integrations.offices.services.polling import runs
from odportal.celery import app

logger = logging.getLogger(__name__)

POLL_RUN_TASK = "offices.poll_run"
AGING_BATCH_TASK = "offices.aging_batch"
HEALTH_BATCH_TASK = "offices.health_batch"
BATCH_TASKS = {PollKind.AGING: AGING_BATCH_TASK, PollKind.HEALTH: HEALTH_BATCH_TASK}


def batch_size(kind: str) -> int:
    """How many of the sweep's polls of ``kind`` go to one task (1: a task each)."""
    sizes = {PollKind.AGING: settings.AGING_BATCH_SIZE, PollKind.HEALTH: settings.HEALTH_BATCH_SIZE}
    return sizes.get(kind, 1)


# One quick reconnect attempt before a send gives up on the broker.
BROKER_FAIL_FAST = {"max_retries": 1, "interval_start": 0.2, "interval_step": 0.2, "timeout": 2}


class WorkersUnavailable(Exception):
    """The broker could not be reached, so nothing was queued."""


def poll_enqueue(
    *,
    office: Office,
    kind: str = PollKind.HEALTH,
    actor: AbstractBaseUser | None = None,
    as_of: date | None = None,
    clinic_num: int | None = None,
    send: bool = True,
) -> tuple[PollRun, bool]:
    """Queue a poll of one office unless one of that kind is already active: (run, created).

    The task is sent once the transaction commits (``send=False``: the caller sends it)."""
    run, created = runs.run_create(
        office=office, kind=kind, actor=actor, as_of=as_of, clinic_num=clinic_num
    )
    if created and send:
        transaction.on_commit(lambda: run_send(run.pk))
    return run, created


NO_KEY_TO_POLL = "Add a key to poll this office: it has no current customer key."
WORKERS_DOWN = "Workers unavailable: the poll could not be queued. Start the workers and retry."


def office_poll_now(
    *, office: Office, kind: str = PollKind.HEALTH, actor: AbstractBaseUser | None
) -> tuple[bool, str]:
    """A person's "Poll now" (or "Refresh aging") of one office: (queued, why not).

    Not queued with no reason: one of that kind is already active. An office without a
    current key, or a broker that is away, is the reason."""
    if not office.keys.filter(is_current=True).exists():
        return False, NO_KEY_TO_POLL
    try:
        _run, created = poll_enqueue(office=office, kind=kind, actor=actor)
    except WorkersUnavailable:
        return False, WORKERS_DOWN
    return created, ""


def polls_queue(
    offices: Iterable[Office],
    kind: str,
    *,
    counts: dict[str, int] | None = None,
    on_sent: Callable[[Office], None] | None = None,
) -> tuple[list[int], bool]:
    """Queue a poll of each office (one failure never stops it): (new run ids, broker down).

    Daily aging refreshes and health polls go ``batch_size(kind)`` to a task; the rest one
    each. ``on_sent`` is
    called for each office once its poll is sent (or was already active), never before.
    """
    counts = counts if counts is not None else {kind: 0, "failed": 0}
    size = batch_size(kind)
    sent = on_sent or (lambda office: None)
    created_ids: list[int] = []
    try:
        if size == 1:
            for office in offices:
                try:
                    run, created = poll_enqueue(office=office, kind=kind)
                except WorkersUnavailable:
                    raise
                except Exception:
                    logger.exception("could not queue a %s poll of office %s", kind, office.pk)
                    counts["failed"] += 1
                    continue
                counts[kind] += int(created)
                if created:
                    created_ids.append(run.pk)
                sent(office)
            return created_ids, False
        for chunk in itertools.batched(offices, size):
            try:
                # The rows of a whole batch in a few statements: one office at a time was most
                # of a large sweep's time.
                created = runs.runs_create(list(chunk), kind)
            except Exception:
                logger.exception("could not queue %s polls of %d offices", kind, len(chunk))
                counts["failed"] += len(chunk)
                continue
            counts[kind] += len(created)
            fresh = [office for office in chunk if office.pk in created]
            if fresh:
                run_ids = [created[office.pk] for office in fresh]
                starts = [_due_epoch(o) for o in fresh] if kind == PollKind.HEALTH else None
                runs_send_batch(run_ids, kind=kind, starts=starts)
                created_ids += run_ids
            for office in chunk:  # only once sent (or already active): an unsent one stays due
                sent(office)
    except WorkersUnavailable:
        counts["failed"] += 1
        return created_ids, True
    return created_ids, False


@contextmanager
def broker_producer() -> Iterator[Any]:
    """A producer from the app's pool, connected to the broker (or raising quickly)."""
    with app.producer_or_acquire() as producer:
        # Fail fast: by default kombu keeps reconnecting for ~8 s, and a "Poll now" click
        # (or a sweep) would hang that long before saying the workers are unavailable.
        producer.connection.ensure_connection(**BROKER_FAIL_FAST)
        yield producer


def run_send(run_id: int) -> None:
    """Hand a queued run to the workers."""
    _send_or_fail([run_id], POLL_RUN_TASK, [run_id])


def runs_send_batch(
    run_ids: list[int], *, kind: str = PollKind.AGING, starts: list[float | None] | None = None
) -> None:
    """Hand queued runs of one kind (daily aging or health) to the workers as one task;
    ``starts``: when each health poll is due (epoch seconds; None: now), for the batch to
    begin each one then."""
    args: list[Any] = [run_ids] if starts is None else [run_ids, starts]
    # The task itself waits for the first of them (held by the worker, not a thread): a
    # batch of polls due a minute on would otherwise hold a worker thread for that minute.
    countdown = 0 if not starts or None in starts else min(starts) - time.time()
    _send_or_fail(run_ids, BATCH_TASKS[kind], args, countdown=countdown)


def _due_epoch(office: Office) -> float | None:
    """The office's health poll due time as the sweep read it (before moving it on)."""
    return office.next_health_at.timestamp() if office.next_health_at else None


def run_resume(run_id: int, *, countdown: float) -> None:
    """From a worker: run a released run again in ``countdown`` seconds. If the broker is
    away the send raises and the run stays queued, so a sweep re-sends it once stale."""
    app.send_task(POLL_RUN_TASK, args=[run_id], countdown=countdown)


def _send_or_fail(run_ids: list[int], task: str, args: list, countdown: float = 0) -> None:
    try:
        with broker_producer() as producer:
            app.send_task(
                task, args=args, retry=False, producer=producer,
                countdown=countdown if countdown > 0.05 else None,
            )  # fmt: skip
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
    stale = PollRun.objects.filter(runs.stale_q()).order_by("pk").values_list("pk", flat=True)
    count = 0
    for run_id in stale[:limit]:
        run_send(run_id)  # WorkersUnavailable propagates: the next sweep tries again
        count += 1
    return count
