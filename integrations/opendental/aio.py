"""The async client: an aging refresh's calls, for many offices multiplexed on one event loop.

Why a second client: a refresh spends nearly all its time waiting for its key's next throttle
slot. A worker thread per office pays more CPU per request in httpx's sync path (caches gone
cold between slots) than one event loop driving hundreds of offices through aiohttp's
connection pool (as an httpx transport). httpx's own async transport is no option at that
scale: its pool's work grows with its size. Figures: see docs/benchmarks.md. Pacing, retries,
error mapping and parsing are the sync client's (shared code); only the waiting is awaited.
Free of Django, like the rest of this package.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from contextvars import ContextVar
from datetime import date, datetime
from typing import Any

import aiohttp
import httpx
from aiohttp.abc import AbstractResolver, ResolveResult
from httpx_aiohttp import AiohttpTransport

from . import bounds, network, parsing
from .client import (
    PAGE_SIZE_REMOTE,
    OpenDentalClient,
    Params,
    _appointment_params,
    _Exchange,
    _subscription_body,
)
from .errors import OpenDentalError
from .models import Appointment, Clinic, Computer, Subscription
from .pacer import Pacer, Slot

# The send times of the request being sent in this task (the office's coroutine): aiohttp's
# trace signal below appends to it, as httpcore's trace hook does for the sync client.
_SENT: ContextVar[list[float] | None] = ContextVar("odportal_sent", default=None)


async def _headers_sent(session: Any, context: Any, params: Any) -> None:
    sent = _SENT.get()
    if sent is not None:
        sent.append(time.monotonic())


def async_transport(
    *, max_connections: int, guard: network.NetworkGuard | None = None
) -> httpx.AsyncBaseTransport:
    """aiohttp's connection pool as an httpx transport (create and close it in one loop); with
    ``guard``, connecting only to the addresses it allows."""

    def session() -> aiohttp.ClientSession:
        # keepalive_timeout: Open Dental's throttle spaces one key's requests by 0.5-5 s; a
        # connection kept longer than that is reused by the office's next request.
        options = {"limit": max_connections, "keepalive_timeout": 30}
        connector = (
            aiohttp.TCPConnector(**options)
            if guard is None
            else guarded_connector(guard, **options)
        )
        # Pacing counts from when a request really left (``_ApiClient._spaced``); without
        # this, from when its response came back, a response time too late each request.
        trace = aiohttp.TraceConfig()
        trace.on_request_headers_sent.append(_headers_sent)
        return aiohttp.ClientSession(connector=connector, trace_configs=[trace])

    return AiohttpTransport(client=session)


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver, keeping only the addresses the guard allows."""

    def __init__(self, guard: network.NetworkGuard) -> None:
        self.guard = guard
        self._inner = aiohttp.DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        allowed = [entry for entry in found if self.guard.allows(entry["host"])]
        if not allowed:
            raise network.AddressNotAllowed(found[0]["host"] if found else host)
        return allowed

    async def close(self) -> None:
        await self._inner.close()


def guarded_connector(guard: network.NetworkGuard, **kwargs: Any) -> aiohttp.TCPConnector:
    """An aiohttp connector that resolves through the guard and checks every socket's address
    (IP literals skip the resolver; the socket factory sees every address connected to)."""

    def socket_factory(addr_info: Any) -> socket.socket:
        family, type_, proto, _, sockaddr = addr_info
        guard.check(str(sockaddr[0]))
        return socket.socket(family=family, type=type_, proto=proto)

    return aiohttp.TCPConnector(
        resolver=GuardedResolver(guard), socket_factory=socket_factory, **kwargs
    )


class SlotBooker:
    """Books the pacing slots of many clients on one event loop, one pacer call per window.

    Why: each booking is a Redis round trip, a large share of a request's CPU (see
    docs/benchmarks.md). The offices' coroutines ask for slots at their throttle rate, so those
    asked for within a few milliseconds share one call (``Pacer.book_many``). The window
    costs no throughput: a key's next slot follows its previous one, whenever it is booked;
    only a request to an idle key starts up to ``window_s`` later.
    """

    def __init__(self, window_s: float = 0.01) -> None:
        self.window_s = window_s
        self._pending: dict[Pacer, list[tuple[str, float, asyncio.Future]]] = {}
        self._timer: asyncio.TimerHandle | None = None

    async def reserve(self, pacer: Pacer, key_id: str, interval_s: float) -> Slot:
        """Book ``key_id``'s next slot (with the next window's others)."""
        loop = asyncio.get_running_loop()
        booked = loop.create_future()
        self._pending.setdefault(pacer, []).append((key_id, interval_s, booked))
        if self._timer is None:
            self._timer = loop.call_later(self.window_s, self._book)
        return await booked

    def _book(self) -> None:
        pending, self._pending, self._timer = self._pending, {}, None
        for pacer, bookings in pending.items():
            try:
                slots = pacer.book_many([(key, interval) for key, interval, _ in bookings])
            except Exception as exc:  # Redis unreachable: each request fails with it
                slots = [exc] * len(bookings)
            for (_, _, booked), slot in zip(bookings, slots, strict=True):
                if booked.done():  # cancelled meanwhile
                    continue
                if isinstance(slot, Exception):
                    booked.set_exception(slot)
                else:
                    booked.set_result(slot)


class AsyncOpenDentalClient(OpenDentalClient):
    """An OpenDentalClient whose calls are awaited, sent through an httpx async ``transport``.

    Requests go to the transport directly: they are complete already (``_build``: URL,
    headers, timeouts), and httpx.AsyncClient's redirect, auth and cookie handling cost CPU
    for nothing an API call needs (see docs/benchmarks.md). Pacing never defers here
    (``max_pace_wait_s`` is ignored): waiting for a slot holds no thread, only this office's
    coroutine. With a ``booker``, slots are booked together with the other clients' on the
    loop.
    """

    def __init__(
        self,
        *args: Any,
        transport: httpx.AsyncBaseTransport,
        booker: SlotBooker | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs["max_pace_wait_s"] = None
        super().__init__(*args, http_client=transport, **kwargs)  # type: ignore[arg-type]
        self.transport = transport
        self.booker = booker

    async def _apace_wait(self) -> float:
        if self.booker is None or self.interval_s <= 0:
            return self._pace_wait()  # the booking itself is a sub-millisecond call
        return self._booked(
            await self.booker.reserve(self.pacer, self.pace_key_id, self.interval_s)
        )

    async def arequest(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        body: Any = None,
        decode: Callable[[bytes], Any] = parsing.loads,
        idempotent: bool = True,
        expect_json: bool = True,
    ) -> Any:
        """``request`` awaited: one API call, paced, retried if transient (a create only when
        surely not received)."""
        attempts = 1 + self.max_retries
        for attempt in range(attempts):
            try:
                return await self._aattempt(method, path, params, body, decode, expect_json)
            except OpenDentalError as exc:
                delay = self._retry_delay(exc, attempt, attempts, idempotent, method, path)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _aattempt(
        self,
        method: str,
        path: str,
        params: Params | None,
        body: Any,
        decode: Callable[[bytes], Any],
        expect_json: bool = True,
    ) -> Any:
        wait: float | None = await self._apace_wait()
        while wait is not None:
            if wait > 0:
                await asyncio.sleep(wait)
            # A slot outslept on a busy loop (the confirmation is one short pacer call).
            wait = self._late_wait()
        request = self._build(method, path, params, body)
        token = _SENT.set(request.extensions["trace"].sent)
        try:
            with self._exchange(method, path, request) as exchange:
                reader = await self._asend(request, exchange)
        finally:
            _SENT.reset(token)
        assert exchange.response is not None
        return self._result(exchange.response, reader, expect_json, decode)

    async def _asend(self, request: httpx.Request, exchange: _Exchange) -> bounds.BodyReader:
        """Send and read the body, all of it within the deadline (an httpx timeout if not)."""
        try:
            async with asyncio.timeout(self.deadline_s):
                exchange.response = response = await self.transport.handle_async_request(request)
                try:
                    return await bounds.aread_body(response, self._body_limit(response))
                finally:
                    await response.aclose()  # the connection back to the pool (or closed)
        except TimeoutError as exc:  # the deadline's (aiohttp's own are httpx errors by now)
            raise httpx.ReadTimeout("request deadline passed") from exc
        except aiohttp.ClientError as exc:  # one httpx_aiohttp leaves unmapped (not HTTP)
            raise httpx.RemoteProtocolError(type(exc).__name__) from exc

    async def agranted_permissions(self) -> frozenset[str]:
        """``granted_permissions`` awaited; also sets the pacing interval."""
        rows = parsing.expect_list(await self.arequest("GET", "/securityperms"), "/securityperms")
        return self._granted(rows)

    async def apreference(self, name: str) -> str | None:
        """``preference`` awaited: GET /preferences?PrefName=name, its ValueString or None."""
        data = await self.arequest("GET", "/preferences", params={"PrefName": name})
        return self._preference_value(parsing.expect_list(data, "/preferences"), name)

    async def aclinics(self) -> list[Clinic]:
        """``clinics`` awaited: GET /clinics (empty: the office does not use clinics)."""
        rows = parsing.expect_list(await self.arequest("GET", "/clinics"), "/clinics")
        return [Clinic.from_json(row) for row in rows]

    async def ashort_query(self, sql: str, offset: int = 0, row_type: type | None = None) -> list:
        """``short_query`` awaited: one page of rows from Offset."""
        params, body, decode = self._short_query_call(sql, offset, row_type)
        data = await self.arequest(
            "PUT", "/queries/ShortQuery", params=params, body=body, decode=decode
        )
        return self._short_query_rows(data, row_type)

    async def apaginate(
        self, path: str, params: Params | None = None, page_size: int = PAGE_SIZE_REMOTE
    ) -> list[Any]:
        """``paginate`` awaited: every row of a list endpoint, Limit/Offset until a short page."""
        rows: list[Any] = []
        while True:
            query = {**(params or {}), "Offset": len(rows), "Limit": page_size}
            page = parsing.expect_list(await self.arequest("GET", path, params=query), path)
            rows.extend(page)
            if len(page) < page_size:
                return rows

    async def aappointments(
        self,
        *,
        date_start: date | None = None,
        date_end: date | None = None,
        apt_status: str | None = None,
        clinic_num: int | None = None,
        date_t_stamp: datetime | None = None,
        pat_num: int | None = None,
    ) -> list[Appointment]:
        """``appointments`` awaited: every page of GET /appointments."""
        params = _appointment_params(
            date_start, date_end, apt_status, clinic_num, date_t_stamp, pat_num
        )
        rows = await self.apaginate("/appointments", params, self.page_size)
        return [Appointment.from_json(row) for row in rows]

    async def aappointment(self, apt_num: int) -> Appointment:
        """``appointment`` awaited: GET /appointments/{AptNum}."""
        return Appointment.from_json(await self.arequest("GET", f"/appointments/{int(apt_num)}"))

    async def acomputers(self) -> list[Computer]:
        """``computers`` awaited: GET /computers."""
        rows = parsing.expect_list(await self.arequest("GET", "/computers"), "/computers")
        return [Computer.from_json(row) for row in rows]

    async def asubscriptions(self) -> list[Subscription]:
        """``subscriptions`` awaited: GET /subscriptions."""
        data = await self.arequest("GET", "/subscriptions")
        return [Subscription.from_json(row) for row in parsing.expect_list(data, "/subscriptions")]

    async def asubscription_create(self, *, end_point_url: str, **fields: Any) -> Subscription:
        """``subscription_create`` awaited: POST /subscriptions."""
        body = _subscription_body(end_point_url=end_point_url, **fields)
        data = await self.arequest("POST", "/subscriptions", body=body, idempotent=False)
        return Subscription.from_json(data)

    async def asubscription_update(self, subscription_num: int, **fields: Any) -> None:
        """``subscription_update`` awaited: PUT /subscriptions/{SubscriptionNum}."""
        path = f"/subscriptions/{int(subscription_num)}"
        await self.arequest("PUT", path, body=_subscription_body(**fields), expect_json=False)

    async def asubscription_delete(self, subscription_num: int) -> None:
        """``subscription_delete`` awaited: DELETE /subscriptions/{SubscriptionNum}."""
        await self.arequest("DELETE", f"/subscriptions/{int(subscription_num)}", expect_json=False)
