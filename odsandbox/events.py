"""API Events (apievents.html): the office workstation that polls subscriptions and POSTs
changed rows to their EndPointUrl.

One asyncio task per sandbox (started in the app's lifespan) ticks every
``SandboxConfig.events_tick_s``. For each office whose workstation is on, every WatchTable
subscription that is due (at most once per PollingSeconds) is polled for rows with
``DateTimeStart <= DateTStamp <= poll time``; only when there are some are they POSTed, as JSON
arrays of at most 1000 rows in the GET resource's shape, with ``Authorization: <CustomerKey>``,
``Workstation`` and ``Event-Type: WatchTable: <table>``. After a poll whose batches all got a
2xx (or that found nothing), DateTimeStart becomes the poll time; otherwise it stays, and the
next successful poll carries the changes of up to the last three days. SQLite work runs in the
app's bounded thread pool, the POSTs on the event loop (httpx, short timeout).

``WATCH_TABLES`` is the registry of tables that fire: add an entry to make another fire.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import anyio
import anyio.to_thread
import httpx

from odsandbox import clinical, resources, subscriptions
from odsandbox.state import Office, SandboxState
from odsandbox.store import OfficeStore, Row

T = TypeVar("T")
log = logging.getLogger(__name__)

BATCH_SIZE = 1000  # rows per POST (23.2.1)
HOLD_BACK = timedelta(days=3)  # how far back a poll after failures reaches
#: The Workstation header when a subscription names none (blank = every machine fires; the
#: sandbox's office has one).
DEFAULT_WORKSTATION = "ODSANDBOX-WS1"
_STAMP = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True)
class WatchTable:
    """How a WatchTable's changed rows are found and shown.

    ``table`` has a ``DateTStamp`` column; ``to_json`` (blocking) gives the GET resource's
    rows, one per table row, in the same order.
    """

    table: str
    pk: str
    to_json: Callable[[OfficeStore, list[Row]], list[dict[str, Any]]]


def _patients_json(store: OfficeStore, rows: list[Row]) -> list[dict[str, Any]]:
    provs, clinics = resources.abbreviations(store)
    return [resources.patient_json(r, provs, clinics) for r in rows]


def _providers_json(store: OfficeStore, rows: list[Row]) -> list[dict[str, Any]]:
    return [resources._provider_json(r, None) for r in rows]


def _appointments_json(store: OfficeStore, rows: list[Row]) -> list[dict[str, Any]]:
    names = clinical._Lookups(store)
    return [clinical.appointment_json(r, names, None) for r in rows]


def _operatories_json(store: OfficeStore, rows: list[Row]) -> list[dict[str, Any]]:
    return [clinical.operatory_json(r) for r in rows]


#: WatchTable name -> table, primary key and the GET resource's JSON (no serverDateTime).
WATCH_TABLES: dict[str, WatchTable] = {
    "Patient": WatchTable("patient", "PatNum", _patients_json),
    "Provider": WatchTable("provider", "ProvNum", _providers_json),
    "Appointment": WatchTable("appointment", "AptNum", _appointments_json),
    "Operatory": WatchTable("operatory", "OperatoryNum", _operatories_json),
}


@dataclass(frozen=True)
class Changed:
    """A changed row: its stamp and key (from the table: not every GET shape shows them, e.g.
    operatories) and the row in the GET resource's shape."""

    stamp: str
    pk: int
    body: dict[str, Any]


def changed_rows(store: OfficeStore, watch: WatchTable, since: str, until: str) -> list[Changed]:
    """Blocking: rows stamped from ``since`` to ``until`` (inclusive), in primary-key order."""
    sql = (
        f"SELECT * FROM {watch.table} WHERE DateTStamp >= ? AND DateTStamp <= ? ORDER BY {watch.pk}"  # noqa: S608, E501 - registry constants
    )
    rows = store.fetch(sql, (since, until))
    bodies = watch.to_json(store, rows)
    return [Changed(r["DateTStamp"], r[watch.pk], b) for r, b in zip(rows, bodies, strict=True)]


def touch_rows(
    store: OfficeStore, table: str, count: int | None, pks: list[int] | None
) -> tuple[str, list[int]]:
    """Blocking: stamp rows of a watched table as changed now; returns (stamp, their PKs).

    ``pks`` names the rows; otherwise the first ``count`` rows in primary-key order.
    """
    watch = next((w for w in WATCH_TABLES.values() if w.table == table.lower()), None)
    if watch is None:
        tables = ", ".join(w.table for w in WATCH_TABLES.values())
        raise ValueError(f"table must be one of: {tables}")
    stamp = datetime.now().strftime(_STAMP)

    def work(conn: Any) -> list[int]:
        chosen = pks
        if chosen is None:
            sql = f"SELECT {watch.pk} FROM {watch.table} ORDER BY {watch.pk} LIMIT ?"  # noqa: S608 - registry constants
            chosen = [r[0] for r in conn.execute(sql, (max(0, count or 0),))]
        marks = ",".join("?" * len(chosen))
        sql = f"UPDATE {watch.table} SET DateTStamp = ? WHERE {watch.pk} IN ({marks})"  # noqa: S608 - placeholders only
        conn.execute(sql, (stamp, *chosen))
        return list(chosen)

    return stamp, store.transact(work)


class Delivery:
    """The workstations of every office: polls due subscriptions and sends their events."""

    def __init__(self, state: SandboxState, limiter: anyio.CapacityLimiter) -> None:
        self.state = state
        self.limiter = limiter
        config = state.config
        self.client = httpx.AsyncClient(timeout=config.events_timeout_s, trust_env=False)
        self.next_due: dict[tuple[int, int], float] = {}  # (office, SubscriptionNum) -> monotonic
        self.tasks: dict[tuple[int, int], asyncio.Task[None]] = {}
        # Stamps have whole seconds and the poll time becomes the next DateTimeStart, so the
        # next poll sees the poll's own second again: remember which rows of that second went
        # out, so they are not sent twice (a row changed twice within that second is missed,
        # as with any one-second stamp).
        self.boundary: dict[tuple[int, int], tuple[str, set[object]]] = {}
        self.looked_at: set[int] = set()  # offices whose unopened file was checked once

    async def _thread(self, func: Callable[..., T], *args: Any) -> T:
        return await anyio.to_thread.run_sync(func, *args, limiter=self.limiter)

    def _offices(self) -> list[Office]:
        """Offices whose workstation runs."""
        offices = (*self.state.offices, self.state.test_office)
        return [o for o in offices if not o.faults.workstation_off]

    async def run(self) -> None:
        """Tick until cancelled: one trip to the thread pool reads every office's subscriptions."""
        while True:
            try:
                found = await self._thread(_subscriptions_of, self._offices(), self.looked_at)
                for office, rows in found:
                    self._start_due(office, rows)
            except Exception:
                log.exception("API Events: a tick failed")
            await asyncio.sleep(self.state.config.events_tick_s)

    def _start_due(self, office: Office, rows: list[Row]) -> None:
        """Start a delivery for each of the office's subscriptions that is due."""
        now, wall = time.monotonic(), datetime.now().strftime(_STAMP)
        for sub in rows:
            key = (office.index, sub["ApiSubscriptionNum"])
            if not _is_live(sub, wall) or key in self.tasks or now < self.next_due.get(key, 0):
                continue
            self.next_due[key] = now + sub["PollingSeconds"]
            task = asyncio.create_task(self.deliver(office, sub))
            self.tasks[key] = task
            task.add_done_callback(lambda _t, key=key: self.tasks.pop(key, None))

    async def deliver(self, office: Office, sub: Row) -> None:
        """One poll of one subscription; a failure is logged and retried at the next interval."""
        try:
            await self._deliver(office, sub)
        except Exception:
            log.exception("API Events: subscription %s failed", sub["ApiSubscriptionNum"])

    async def _deliver(self, office: Office, sub: Row) -> None:
        """Poll one subscription; POST its changes in batches; advance DateTimeStart on success."""
        watch = WATCH_TABLES[sub["WatchTable"]]
        key = (office.index, sub["ApiSubscriptionNum"])
        until = datetime.now().strftime(_STAMP)
        since = max(sub["DateTimeStart"], (datetime.now() - HOLD_BACK).strftime(_STAMP))
        if since > until:
            return
        rows = await self._thread(changed_rows, office.store, watch, since, until)
        sent_second, sent = self.boundary.get(key, ("", set()))
        if sent_second == since:
            rows = [r for r in rows if r.stamp != since or r.pk not in sent]
        for start in range(0, len(rows), BATCH_SIZE):
            if not await self._post(sub, [r.body for r in rows[start : start + BATCH_SIZE]]):
                return  # DateTimeStart holds; the next poll sends these again
        now_sent = {r.pk for r in rows if r.stamp == until}
        self.boundary[key] = (until, now_sent | (sent if sent_second == until else set()))
        num, old = sub["ApiSubscriptionNum"], sub["DateTimeStart"]
        await self._thread(subscriptions.advance_start, office.store, num, old, until)

    async def _post(self, sub: Row, batch: list[dict[str, Any]]) -> bool:
        """One webhook POST; True on a 2xx answer."""
        headers = {
            "Authorization": sub["CustomerKey"],
            "Workstation": sub["Workstation"] or DEFAULT_WORKSTATION,
            "Event-Type": f"WatchTable: {sub['WatchTable']}",
            "Content-Type": "application/json",
        }
        body = json.dumps(batch, ensure_ascii=False).encode()
        try:
            response = await self.client.post(sub["EndPointUrl"], content=body, headers=headers)
        except (httpx.HTTPError, httpx.InvalidURL):
            return False
        return response.is_success

    async def close(self) -> None:
        """Cancel deliveries in flight and close the HTTP client."""
        for task in list(self.tasks.values()):
            task.cancel()
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        await self.client.aclose()


def _subscriptions_of(offices: list[Office], looked_at: set[int]) -> list[tuple[Office, list[Row]]]:
    """Blocking: the subscriptions of each office whose database is open or current.

    An office's file is opened lazily; a current file left by an earlier run (``--data-dir``)
    is opened here so its subscriptions fire, but a missing or stale one is left for the first
    request to generate rather than built by the loop. Failures are logged and skipped.
    """
    found = []
    for office in offices:
        store = office.store
        if not store.built and (office.index in looked_at or not store.has_current_file()):
            looked_at.add(office.index)
            continue
        try:
            found.append((office, subscriptions.all_subscriptions(store)))
        except Exception:
            log.exception("API Events: reading office %s's subscriptions failed", office.index)
    return found


def _is_live(sub: Row, now: str) -> bool:
    """A WatchTable subscription that fires here and has not expired."""
    stop = sub["DateTimeStop"]
    expired = stop != subscriptions.NO_DATETIME and stop <= now
    return sub["WatchTable"] in WATCH_TABLES and not expired


@contextlib.asynccontextmanager
async def delivering(state: SandboxState, limiter: anyio.CapacityLimiter) -> AsyncIterator[None]:
    """Run the delivery loop for the lifetime of the app."""
    delivery = Delivery(state, limiter)
    loop = asyncio.create_task(delivery.run())
    try:
        yield
    finally:
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop
        await delivery.close()
