"""Health polls of many offices in one task: an event loop fetches, this thread records.

The sweep sends due health polls ``HEALTH_BATCH_SIZE`` to a task, as it does daily aging
refreshes (``batch.py``): a health poll is one to five small requests that mostly wait for
the office to answer, and one event loop serving a few hundred of them spends far less CPU
per request than a worker thread and a task per office. Each run follows the same steps as
``execute._health``: claimed like any other, the full check or the liveness check
(``health.health_is_full``), the same outcome writers and fault mapping. Transient faults
hand the run back (returned with their backoff) for the single-run task to resume.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from integrations import opendental as od
from integrations.offices.models import CustomerKey, Office, PollKind, PollRun, RunOutcome
from integrations.offices.services import health
from integrations.offices.services.clients import (
    NoKey,
    office_async_client,
    office_async_transport,
)
from integrations.offices.services.polling import outcomes, runs
from integrations.opendental.aio import AsyncOpenDentalClient, SlotBooker

logger = logging.getLogger(__name__)


@dataclass(eq=False)
class _Job:
    run: PollRun
    office: Office
    key: CustomerKey
    full: bool
    start_at: float | None = None  # epoch seconds
    client: AsyncOpenDentalClient | None = None
    result: health.HealthResult | health.LivenessResult | None = None
    error: BaseException | None = None


def health_batch_execute(
    run_ids: list[int], *, claimer: str, starts: dict[int, float | None] | None = None
) -> dict[int, float]:
    """Execute the health runs among ``run_ids`` this claimer can claim, each beginning at its
    due time in ``starts`` (epoch seconds; None or past: at once); returns {run id: seconds}
    for runs handed back to the single-run task."""
    resume: dict[int, float] = {}
    jobs = _jobs(runs.runs_claim(run_ids, claimer=claimer), resume)
    for job in jobs:
        job.start_at = (starts or {}).get(job.run.pk)
    if not jobs:
        return resume
    _fetch_all(jobs)
    alive = [j for j in jobs if j.error is None and isinstance(j.result, health.LivenessResult)]
    if alive:  # most of a batch: one UPDATE for the offices, one for the runs
        health.offices_liveness_record_ok([(j.office, j.result) for j in alive])
        runs.runs_finish_ok([j.run for j in alive])
    for job in jobs:
        if job not in alive:
            _record(job, resume)
    return resume


def health_batch_failed(run_ids: list[int]) -> bool:
    """Whether any of the batch's polls failed (one indexed query)."""
    return PollRun.objects.filter(pk__in=run_ids, outcome=RunOutcome.FAILED).exists()


def _jobs(claimed: list[PollRun], resume: dict[int, float]) -> list[_Job]:
    """The claimed runs ready to poll; the others finished or released here."""
    current = runs.runs_current_keys(claimed)
    now = timezone.now()
    jobs: list[_Job] = []
    for run in claimed:
        if run.kind != PollKind.HEALTH:
            runs.run_release(run, error="")
            resume[run.pk] = 0.0
            continue
        if outcomes.run_skip_if_polling_off(run):
            continue
        key = current.get(run.office_id)
        if key is None:
            runs.run_finish(run, outcome=RunOutcome.SKIPPED, error="The office has no current key.")
            continue
        manual = run.requested_by_id is not None
        full = health.health_is_full(run.office, key, manual=manual, now=now)
        jobs.append(_Job(run=run, office=run.office, key=key, full=full))
    return jobs


def _fetch_all(jobs: list[_Job]) -> None:
    """Every job's requests on one event loop (its own thread), heartbeating meanwhile."""
    transport = office_async_transport(max_connections=len(jobs))
    booker = SlotBooker()
    for job in jobs:
        try:
            job.client = office_async_client(
                office=job.office, key=job.key, transport=transport, booker=booker,
                on_request=runs.RequestCounter(job.run),
            )  # fmt: skip
        except NoKey as exc:
            job.error = exc

    async def main() -> None:
        try:
            await asyncio.gather(*(_poll(job) for job in jobs if job.error is None))
        finally:
            await transport.aclose()

    fetcher = threading.Thread(target=asyncio.run, args=(main(),), name="health-batch-fetch")
    fetcher.start()
    while fetcher.is_alive():  # a claim without heartbeats is taken over after a minute
        fetcher.join(timeout=settings.HEARTBEAT_EVERY_S)
        if fetcher.is_alive():
            runs.runs_heartbeat([job.run for job in jobs])


async def _poll(job: _Job) -> None:
    assert job.client is not None
    if job.start_at is not None:
        # Each poll at its office's own point of the interval: the sweep's due offices all at
        # once were a burst of hundreds of requests every sweep, and, recorded together, they
        # stayed one burst from interval to interval. Never longer than a sweep (a clock
        # step, a message read late).
        await asyncio.sleep(min(max(0.0, job.start_at - time.time()), settings.SWEEP_INTERVAL_S))
    try:
        if job.full:
            job.result = await health.health_afetch(job.client)
        else:
            job.result = await health.liveness_afetch(job.client)
    except Exception as exc:  # recorded by the task's thread; one office never stops the rest
        job.error = exc


def _record(job: _Job, resume: dict[int, float]) -> None:
    """The job's outcome, through the writers the single-run path uses."""
    run, exc = job.run, job.error
    if isinstance(exc, NoKey):
        runs.run_finish(run, outcome=RunOutcome.SKIPPED, error=str(exc))
    elif isinstance(exc, od.OpenDentalError):
        retry_in = outcomes.run_fault(run, job.office, job.key, exc)
        if retry_in is not None:
            resume[run.pk] = retry_in
    elif exc is not None:
        logger.error("health poll of office %s failed unexpectedly", job.office.pk, exc_info=exc)
        runs.run_release(run, error=f"Internal error: {type(exc).__name__}", resume_in=60.0)
        resume[run.pk] = 60.0
    else:
        assert isinstance(job.result, health.HealthResult)
        health.office_health_record_ok(office=job.office, key=job.key, result=job.result)
        runs.run_finish(run, outcome=RunOutcome.OK)
