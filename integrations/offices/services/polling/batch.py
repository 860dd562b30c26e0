"""Daily aging refreshes of many offices in one task: an event loop fetches, one thread writes.

Why: a refresh mostly waits for its key's throttle slots, and one worker thread per refresh
spends more CPU per request (httpx's sync path, each refresh's own database statements) than a
busy fleet can afford (docs/benchmarks.md). Here one event-loop thread drives every office's
requests (``AsyncOpenDentalClient``) and the task's own thread writes for all of them together,
every ``AGING_BATCH_FLUSH_S``: one COPY of every office's new rows, one totals query and one
UPDATE per table for the refreshes that finished.

Both follow ``aging.recipe`` and end through ``outcomes``, as ``execute`` does for one run: a
snapshot becomes current only when complete, with its last rows, in one transaction; a fault
becomes the office's status and
a transient one hands the run back (``batch_execute`` returns it) to be resumed by the
single-run task after a backoff; rows already written survive anything, so a resumed run
continues after them. A run is claimed like any other, so a retried or duplicated batch
finds nothing to do but the runs still unclaimed (or its own, when redelivered).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
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
from integrations.offices.services.aging import recipe, snapshots
from integrations.offices.services.clients import (
    NoKey,
    office_async_client,
    office_async_transport,
)
from integrations.offices.services.polling import outcomes, runs
from integrations.opendental.aio import AsyncOpenDentalClient, SlotBooker

logger = logging.getLogger(__name__)

_FETCHED = object()  # the event loop's last event: every refresh has ended


@dataclass(eq=False)
class _Job:
    """One run of the batch, shared by both threads (each field written by one of them)."""

    run: PollRun
    office: Office
    key: CustomerKey | None
    client: AsyncOpenDentalClient | None = None
    snapshot: AgingSnapshot | None = None
    offset: int = 0  # rows stored or fetched: where the next page starts
    opened: asyncio.Future | None = field(default=None, repr=False)


def batch_execute(run_ids: list[int], *, claimer: str) -> dict[int, float]:
    """Execute the daily aging runs among ``run_ids`` that this claimer can claim.

    Returns {run id: seconds}: runs released to be resumed later by the single-run task (a
    transient fault's backoff, or a run that is not a daily refresh).
    """
    resume: dict[int, float] = {}
    jobs = _jobs(runs.runs_claim(run_ids, claimer=claimer), resume)
    if jobs:
        _Batch(jobs, resume).run()
    return resume


def _jobs(claimed: list[PollRun], resume: dict[int, float]) -> list[_Job]:
    """The claimed runs ready to fetch; the others finished or released here."""
    current = runs.runs_current_keys(claimed)
    existing = {s.run_id: s for s in AgingSnapshot.objects.filter(run__in=claimed)}
    stored = snapshots.snapshots_row_counts(list(existing.values()))  # resumed runs' only
    jobs: list[_Job] = []
    for run in claimed:
        office = run.office
        if run.kind != PollKind.AGING:  # only the sweep's daily refreshes come in batches
            runs.run_release(run, error="")
            resume[run.pk] = 0.0
            continue
        if outcomes.run_skip_if_polling_off(run):
            continue
        job = _Job(run=run, office=office, key=current.get(office.pk))
        job.snapshot = existing.get(run.pk)
        if job.snapshot is not None:
            job.offset = stored[job.snapshot.pk]
        jobs.append(job)
    return jobs


class _Batch:
    """The two threads of one batch and what passes between them (a queue of events)."""

    def __init__(self, jobs: list[_Job], resume: dict[int, float]) -> None:
        self.jobs = jobs
        self.resume = resume
        self.events: queue.SimpleQueue = queue.SimpleQueue()
        self.loop = asyncio.new_event_loop()
        self.transport = office_async_transport(max_connections=max(len(jobs), 1))
        self.booker = SlotBooker()
        self.main_task: asyncio.Task | None = None
        self.stopping = False
        self.fetched: dict[_Job, list[snapshots.Row]] = {}  # fetched rows not yet written
        self.fetched_rows = 0
        self.done: list[_Job] = []  # refreshes fetched to the end, not yet completed
        self.active = set(jobs)  # runs not yet finished, failed or released

    def run(self) -> None:
        for job in list(self.jobs):
            try:
                job.client = office_async_client(
                    office=job.office, key=job.key, transport=self.transport,
                    booker=self.booker, on_request=runs.RequestCounter(job.run),
                )  # fmt: skip
            except NoKey as exc:
                runs.run_finish(job.run, outcome=RunOutcome.SKIPPED, error=str(exc))
                self.jobs.remove(job)
                self.active.discard(job)
        fetcher = threading.Thread(target=self._fetch_all, name="aging-batch-fetch", daemon=True)
        fetcher.start()
        try:
            self._write_all()
        finally:
            self._cancel()  # the writer failed (a database error): stop fetching, then retry
            fetcher.join()
        for job in list(self.active):  # never expected: a refresh that ended without a word
            self._fault(job, RuntimeError("the refresh ended without an outcome"))

    # --- the event loop's thread: requests only, no database ---------------------------------

    def _fetch_all(self) -> None:
        try:
            self.loop.run_until_complete(self._main())
        except asyncio.CancelledError:
            pass  # the writer stopped (see run)
        finally:
            self.loop.close()
            self.events.put(_FETCHED)

    async def _main(self) -> None:
        self.main_task = asyncio.current_task()
        try:
            if not self.stopping:  # set before main_task is read: see _cancel
                await asyncio.gather(*(self._refresh(job) for job in self.jobs))
        finally:
            await self.transport.aclose()

    def _cancel(self) -> None:
        self.stopping = True
        task = self.main_task
        if task is not None and not self.loop.is_closed():
            # RuntimeError: the loop closed meanwhile, nothing left to stop.
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(task.cancel)

    async def _refresh(self, job: _Job) -> None:
        try:
            if job.snapshot is None:
                opened = await self._open(job)
                if not opened:
                    return
            await self._pages(job)
        except od.OpenDentalError as exc:
            self.events.put(("failed", job, exc))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug must not end the other offices' refreshes
            self.events.put(("crashed", job, exc))

    async def _open(self, job: _Job) -> bool:
        """The recipe's first step, then the snapshot from the writer thread."""
        assert job.client is not None
        plan = await recipe.adaily_plan_fetch(job.client, job.office, timezone.now())
        if plan.wait_until is not None:
            self.events.put(("wait", job, plan.wait_until))
            return False
        job.opened = self.loop.create_future()
        self.events.put(("open", job, (plan.source, plan.as_of)))
        await job.opened  # the writer sets job.snapshot and job.offset first
        return True

    async def _pages(self, job: _Job) -> None:
        client, snapshot = job.client, job.snapshot
        assert client is not None and snapshot is not None
        offset = job.offset
        while True:
            page = recipe.AgingPage(snapshot, offset)
            rows = await page.afetch(client)
            offset += len(rows)
            done = page.is_last(rows, client)
            self.events.put(("done" if done else "rows", job, rows))
            if done:
                return

    # --- the task's thread: every database write, batched ------------------------------------

    def _write_all(self) -> None:
        fetching = True
        flushed_at = beat_at = time.monotonic()
        while fetching:
            try:
                events = [self.events.get(timeout=settings.AGING_BATCH_FLUSH_S)]
            except queue.Empty:
                events = []
            while True:  # whatever else has come meanwhile
                try:
                    events.append(self.events.get_nowait())
                except queue.Empty:
                    break
            if _FETCHED in events:
                fetching = False
            opens, faults = self._take(e for e in events if e is not _FETCHED)
            if opens:
                self._open_snapshots(opens)
            now = time.monotonic()
            due = now - flushed_at >= settings.AGING_BATCH_FLUSH_S
            full = self.fetched_rows >= settings.INGEST_BATCH_ROWS
            if faults or not fetching or full or (due and (self.fetched or self.done)):
                self._flush()
                flushed_at = now
            for job, exc in faults:  # after the flush that saved their rows
                self._fault(job, exc)
            if now - beat_at >= settings.HEARTBEAT_EVERY_S and self.active:
                runs.runs_heartbeat([job.run for job in self.active])
                beat_at = now

    def _take(self, events: Any) -> tuple[list, list]:
        """Sort the events: rows and finished refreshes kept; opens and faults returned."""
        opens: list[tuple[_Job, tuple]] = []
        faults: list[tuple[_Job, Exception]] = []
        for kind, job, payload in events:
            if kind in ("rows", "done"):
                self.fetched.setdefault(job, []).extend(payload)
                self.fetched_rows += len(payload)
                job.offset += len(payload)
                if kind == "done":
                    self.done.append(job)
            elif kind == "open":
                opens.append((job, payload))
            elif kind == "wait":
                self._wait(job, payload)
            else:  # failed, crashed
                faults.append((job, payload))
        return opens, faults

    def _open_snapshots(self, opens: list[tuple[_Job, tuple]]) -> None:
        opened = snapshots.snapshots_open(
            [(job.run, source, as_of, job.run.clinic_num) for job, (source, as_of) in opens]
        )
        for job, _ in opens:
            job.snapshot, job.offset = opened[job.run.pk]
            assert job.opened is not None
            self.loop.call_soon_threadsafe(job.opened.set_result, None)

    def _flush(self) -> None:
        """Every fetched row, and the finished refreshes completed, in one transaction."""
        done, self.done = self.done, []
        for job in self.fetched:  # the rows written below, counted for the runs' rows
            job.run.rows = job.offset
        outcomes.aging_runs_complete(
            [(job.run, job.snapshot, job.office) for job in done],
            {job.snapshot.pk: rows for job, rows in self.fetched.items()},
        )
        self.fetched.clear()
        self.fetched_rows = 0
        self.active.difference_update(done)

    def _wait(self, job: _Job, wait_until: datetime) -> None:
        """Today's aging has not run yet (recipe: wait)."""
        outcomes.aging_run_wait(job.run, wait_until)
        self.active.discard(job)

    def _fault(self, job: _Job, exc: Exception) -> None:
        """After the flush that saved the job's rows: the fault on the office, or a bug's."""
        self.active.discard(job)
        if isinstance(exc, od.OpenDentalError):
            retry_in = outcomes.run_fault(job.run, job.office, job.key, exc)
            if retry_in is not None:
                self.resume[job.run.pk] = retry_in
            return
        logger.error("aging refresh of office %s failed unexpectedly", job.office.pk, exc_info=exc)
        runs.run_release(job.run, error=f"Internal error: {type(exc).__name__}", resume_in=60.0)
        self.resume[job.run.pk] = 60.0
