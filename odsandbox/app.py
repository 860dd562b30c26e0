"""The Starlette application: Open Dental's /api/v1 routes plus the optional /_sandbox control.

Every API request goes through ``_serve``: latency, Content-Type, key check, throttle,
permission, eConnector, parameters, faults, then the resource handler, whose JSON then gets the
call's DateFormatString/DateTimeFormatString (``dateformat``). Handlers return plain
Python data (or a Response) and never touch SQLite on the event loop: they call ``ctx.run``,
which runs the blocking store method in a bounded thread pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from odsandbox import clinical, dateformat, events, family, resources, subscriptions, writes
from odsandbox.config import SandboxConfig
from odsandbox.control import control_routes
from odsandbox.state import AuthError, KeyRecord, Office, SandboxState
from odsandbox.web import (
    ApiError,
    check_content_type,
    int_param,
    json_response,
    parse_authorization,
)

T = TypeVar("T")
API_PREFIX = "/api/v1"
# Accepted by every method (apiimplementation.html), applied to the handler's result.
FORMAT_PARAMS = ("DateFormatString", "DateTimeFormatString")
# Text columns that may hold something date-like; Open Dental sends them as stored.
_TEXT_KEYS = frozenset({"ValueString"})
HTML_ERROR_PAGE = (
    "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>"
    "<h1>Bad Gateway</h1><p>The proxy server received an invalid response from an upstream "
    "server.</p></body></html>"
)


@dataclass
class Ctx:
    """What a resource handler needs about the current request."""

    request: Request
    state: SandboxState
    office: Office
    key: KeyRecord
    params: dict[str, str]
    limiter: anyio.CapacityLimiter

    async def run(self, func: Callable[..., T], *args: Any) -> T:
        """Run blocking (SQLite) work in the bounded thread pool."""
        return await anyio.to_thread.run_sync(func, *args, limiter=self.limiter)

    def page(self) -> tuple[int, int]:
        """(limit, offset) from Limit/Offset, with the office's hard cap applied silently."""
        cap = self.office.page_cap(self.state.config.page_cap)
        limit = min(int_param(self.params, "Limit", cap), cap)
        offset = int_param(self.params, "Offset", 0)
        if limit < 1 or offset < 0:
            raise ApiError(400, "Limit and Offset must be non-negative; Limit at least 1.")
        return limit, offset

    def server_now(self) -> str:
        """The office server's clock as 'yyyy-MM-dd HH:mm:ss' (serverDateTime)."""
        return datetime.now().strftime("%Y-%m-%d %H:%M:%S")


Handler = Callable[[Ctx], Awaitable[Any]]


@dataclass(frozen=True)
class Endpoint:
    """Declares an API route: its permission, accepted parameters and handler."""

    path: str
    method: str
    permission: str
    params: tuple[str, ...]
    handler: Handler
    paged: bool = True
    extra_latency: Callable[[SandboxConfig], float] | None = None
    # ShortQuery sends its own 'T' form from a result table, not API objects: untouched.
    date_formats: bool = True
    # False: unknown query parameters are ignored, not 400 (a live GET /appointments accepted
    # an undocumented one while GET /patients refused them: it differs per endpoint [T]).
    strict_params: bool = True


def _endpoints() -> list[Endpoint]:
    """The resource routes this sandbox implements."""
    paging = ("Limit", "Offset")
    patient_filters = (
        "LName",
        "FName",
        "Birthdate",
        "ClinicNum",
        "PatStatus",
        "DateTStamp",
        "PriProv",
        "Gender",
        "Position",
        "Guarantor",
        "SuperFamily",
        "EmployerNum",
        "FeeSched",
    )
    return [
        Endpoint("/securityperms", "GET", "ApiReadAll", (), resources.securityperms, False),
        Endpoint("/preferences", "GET", "ApiReadAll", ("PrefName", *paging), resources.preferences),
        Endpoint("/clinics", "GET", "ApiReadAll", paging, resources.clinics),
        Endpoint(
            "/providers",
            "GET",
            "ApiReadAll",
            ("ClinicNum", "DateTStamp", *paging),
            resources.providers,
        ),
        Endpoint(
            "/patients/simple",
            "GET",
            "ApiReadAll",
            (*patient_filters, *paging),
            resources.patients_simple,
        ),
        Endpoint("/patients/{patnum:int}", "GET", "ApiReadAll", (), resources.patient, False),
        Endpoint(
            "/accountmodules/{patnum:int}/aging",
            "GET",
            "ApiReadAll",
            (),
            resources.account_aging,
            False,
        ),
        Endpoint(
            "/reports/aging",
            "GET",
            "ApiReadAll",
            ("DateAsOf", "ClinicNum", *paging),
            resources.report_aging,
            True,
            lambda c: c.report_latency_ms / 1000,
        ),
        Endpoint(
            "/queries/shortquery",
            "PUT",
            "ApiQueries",
            paging,
            resources.short_query,
            date_formats=False,
        ),
        *_write_endpoints(),
        *_practice_endpoints(paging),
    ]


def _write_endpoints() -> list[Endpoint]:
    """Patient writes and API subscriptions (ReadAll covers Subscriptions, DELETE included)."""
    subs = "/subscriptions/{num:int}"
    return [
        Endpoint("/patients", "POST", "ApiPatients", (), writes.patient_create, False),
        Endpoint("/patients/{patnum:int}", "PUT", "ApiPatients", (), writes.patient_update, False),
        Endpoint(
            "/subscriptions",
            "GET",
            "ApiReadAll",
            ("Limit", "Offset"),
            subscriptions.subscriptions_list,
        ),
        Endpoint(
            "/subscriptions", "POST", "ApiReadAll", (), subscriptions.subscription_create, False
        ),
        Endpoint(subs, "PUT", "ApiReadAll", (), subscriptions.subscription_update, False),
        Endpoint(subs, "DELETE", "ApiReadAll", (), subscriptions.subscription_delete, False),
    ]


def _practice_endpoints(paging: tuple[str, ...]) -> list[Endpoint]:
    """Schedule, chart, insurance and account routes (clinical.py and family.py)."""
    patient_select = ("LName", "FName", "Phone", "Address", "hideInactive", "City", "State",
                      "SSN", "ChartNumber", "guarOnly", "showArchived", "Birthdate", "SiteNum",
                      "SubscriberId", "Email", "Country", "clinicNums", "clinicAbbr",
                      "invoiceNumber")  # fmt: skip
    appointment_filters = ("PatNum", "AptStatus", "Op", "date", "dateStart", "dateEnd",
                           "ClinicNum", "DateTStamp", "AppointmentTypeNum")  # fmt: skip
    procedure_filters = ("PatNum", "AptNum", "ProcStatus", "PlannedAptNum", "ClinicNum",
                         "CodeNum", "DateTStamp")  # fmt: skip
    read, write = "ApiReadAll", "ApiAppointments"
    apt = "/appointments/{aptnum:int}"
    return [
        Endpoint("/patients", "GET", read, (*patient_select, *paging), family.patients),
        Endpoint(
            "/appointments", "GET", read, (*appointment_filters, *paging), clinical.appointments,
            strict_params=False,
        ),
        Endpoint(apt, "GET", read, (), clinical.appointment, False, strict_params=False),
        Endpoint("/appointments", "POST", write, (), clinical.appointment_create, False),
        Endpoint(apt, "PUT", write, (), clinical.appointment_update, False),
        Endpoint(f"{apt}/confirm", "PUT", write, (), clinical.appointment_confirm, False),
        Endpoint("/operatories", "GET", read, ("ClinicNum", *paging), clinical.operatories),
        Endpoint("/providers/{provnum:int}", "GET", read, (), clinical.provider, False),
        Endpoint(
            "/procedurelogs", "GET", read, (*procedure_filters, *paging), clinical.procedurelogs
        ),
        Endpoint("/procedurecodes", "GET", read, ("DateTStamp", *paging), clinical.procedurecodes),
        Endpoint("/insplans", "GET", read, paging, family.insplans),
        Endpoint(
            "/inssubs", "GET", read, ("PlanNum", "Subscriber", "SecDateTEdit", *paging),
            family.inssubs,
        ),
        Endpoint("/patplans", "GET", read, ("PatNum", "InsSubNum", *paging), family.patplans),
        Endpoint("/carriers", "GET", read, paging, family.carriers),
        Endpoint(
            "/accountmodules/{patnum:int}/patientbalances", "GET", read, (),
            family.patient_balances, False,
        ),
        Endpoint(
            "/accountmodules/{patnum:int}/servicedateview", "GET", read, ("isFamily",),
            family.service_date_view, False,
        ),
        Endpoint("/computers", "GET", read, paging, clinical.computers),
    ]  # fmt: skip


def create_app(config: SandboxConfig, state: SandboxState | None = None) -> Starlette:
    """Build the ASGI app; pass ``state`` to share it with a test harness."""
    sandbox = state or SandboxState(config)
    routes: list[Any] = [_api_route(e) for e in _endpoints()]
    routes.append(Route(f"{API_PREFIX}/apikeys", resources.portal, methods=["GET", "POST", "PUT"]))
    routes.append(Route(API_PREFIX + "/{rest:path}", _not_found, methods=_ALL_METHODS))
    if config.control:
        routes.extend(control_routes())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.limiter = anyio.CapacityLimiter(config.max_threads)
        async with events.delivering(sandbox, app.state.limiter):
            yield

    app = Starlette(
        routes=routes, lifespan=lifespan, middleware=[Middleware(CaseInsensitiveApiPaths)]
    )
    app.state.sandbox = sandbox
    app.state.limiter = None
    return app


_ALL_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"]


class CaseInsensitiveApiPaths:
    """ASGI wrapper lower-casing /api/v1 paths: Open Dental's routes ignore case."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].lower().startswith(API_PREFIX):
            scope = {**scope, "path": scope["path"].lower()}
        await self.app(scope, receive, send)


def _api_route(endpoint: Endpoint) -> Route:
    """A Starlette route that serves ``endpoint`` through the common pipeline."""

    async def view(request: Request) -> Response:
        return await _serve(request, endpoint)

    return Route(API_PREFIX + endpoint.path, view, methods=[endpoint.method])


async def _not_found(request: Request) -> Response:
    """Unknown routes (typos) are 404 in Open Dental too."""
    request.app.state.sandbox.record_request(None, False)
    return PlainTextResponse("Not found.", status_code=404)


async def _serve(request: Request, endpoint: Endpoint) -> Response:
    """Run the common checks, then the handler, under the request time limit."""
    state: SandboxState = request.app.state.sandbox
    # When the server read the request (see testing.ArrivalStampingProtocol), else now.
    started = getattr(request.state, "arrived", None) or time.monotonic()
    try:
        return await asyncio.wait_for(
            _pipeline(request, endpoint, state, started), state.config.request_timeout_s
        )
    except ApiError as exc:
        return exc.response()
    except TimeoutError:
        return PlainTextResponse("Gateway Time-out", status_code=504)


async def _pipeline(
    request: Request, endpoint: Endpoint, state: SandboxState, started: float
) -> Response:
    """Checks in HQ order (headers, key, throttle, permission), then the office's work."""
    config = state.config
    await _sleep_ms(config.latency_ms)
    record = authenticate_api(request, state)
    # The throttle counts the request from its arrival (plus the simulated network latency),
    # not from when a busy event loop got round to it.
    await _throttle(state, record, started + config.latency_ms / 1000, request)
    office = record.office
    assert office is not None  # authenticate() guarantees an assigned key
    if endpoint.permission not in office.permissions:
        raise ApiError(401, f"Customer key does not have the {endpoint.permission} permission.")
    if office.is_remote and office.faults.econnector_down:
        raise ApiError(400, "eConnector is not running or cannot be reached for this office.")
    params = _check_params(
        request, (*endpoint.params, *FORMAT_PARAMS), strict=endpoint.strict_params
    )
    formats = _date_formats(params)
    await _sleep_ms(office.faults.latency_ms)
    fault = office.faults.active_response_fault()
    if fault is not None and fault not in ("malformed_json", "truncated_json"):
        return await _fault_response(fault, office, config, started)
    if endpoint.extra_latency is not None:
        await asyncio.sleep(endpoint.extra_latency(config))
    ctx = Ctx(request, state, office, record, params, request.app.state.limiter)
    result = await endpoint.handler(ctx)
    if not endpoint.date_formats or formats == (None, None):
        return result if isinstance(result, Response) else json_response(result, fault)
    if isinstance(result, Response):  # e.g. a 201 with a Location header
        return _reformatted(result, formats)
    return json_response(dateformat.reformat(result, *formats, _TEXT_KEYS), fault)


def _reformatted(response: Response, formats: tuple[str | None, str | None]) -> Response:
    """A handler's own JSON response with the date patterns applied (status and headers kept);
    anything that is not JSON is returned as it is."""
    if not response.headers.get("content-type", "").startswith("application/json"):
        return response
    try:
        data = json.loads(response.body)
    except ValueError:
        return response
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    out = json_response(dateformat.reformat(data, *formats, _TEXT_KEYS), None, response.status_code)
    out.headers.update(headers)
    return out


def authenticate_api(request: Request, state: SandboxState) -> KeyRecord:
    """Validate headers and keys, counting the request; raises ApiError on failure."""
    try:
        check_content_type(request, state.config.strict_content_type)
        dev, cust = parse_authorization(request)
        return state.authenticate(dev, cust)
    except AuthError as exc:
        state.record_request(None, False)
        raise ApiError(401, str(exc)) from None
    except ApiError:
        state.record_request(None, False)
        raise


async def _throttle(
    state: SandboxState, record: KeyRecord, arrived: float, request: Request
) -> None:
    """Apply the per-key pacing rule with the configured over-limit behaviour."""
    mode = state.config.over_limit
    interval = state.interval_for(record)
    decision = state.throttle.admit(
        record.customer_key, interval, queue=mode == "delay", now=arrived
    )
    port = request.client.port if request.client else None
    nth = getattr(request.state, "nth_on_connection", None)
    state.record_request(
        record.customer_key, decision.violation, arrived=arrived, path=request.url.path,
        interval=interval, connection=(port, nth),
    )  # fmt: skip
    if not decision.violation:
        return
    if mode == "delay":
        await asyncio.sleep(decision.wait)
    elif mode == "400":
        raise ApiError(400, "Too many requests. Please slow down.")
    else:
        raise ApiError(429, "Too many requests.", {"Retry-After": retry_after(decision.wait)})


def _check_params(
    request: Request, allowed: tuple[str, ...], *, strict: bool = True
) -> dict[str, str]:
    """Query parameters keyed by their canonical names (any case); an unknown name is 400, or
    ignored when not ``strict``."""
    canonical = {name.lower(): name for name in allowed}
    params: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        if name.lower() in canonical:
            params[canonical[name.lower()]] = value
        elif strict:
            raise ApiError(400, f"'{name}' is not a valid parameter.")
    return params


def _date_formats(params: dict[str, str]) -> tuple[str | None, str | None]:
    """(DateFormatString, DateTimeFormatString), taken out of ``params``; None when absent or
    empty (the default format); 400 for a pattern .NET would refuse."""
    patterns = tuple(params.pop(name, "") or None for name in FORMAT_PARAMS)
    for name, pattern in zip(FORMAT_PARAMS, patterns, strict=True):
        if pattern is not None:
            try:
                dateformat.check_pattern(pattern)
            except dateformat.InvalidPattern as exc:
                raise ApiError(400, f"'{name}' is not a valid format: {exc}") from None
    return patterns[0], patterns[1]


async def _fault_response(
    fault: str, office: Office, config: SandboxConfig, started: float
) -> Response:
    """The response an injected fault produces instead of the real answer."""
    if fault == "timeout":
        if not office.faults.timeout_immediate:
            remaining = config.request_timeout_s - (time.monotonic() - started)
            await asyncio.sleep(max(0.0, remaining) + 1)  # wait_for turns this into a 504
        return PlainTextResponse("Gateway Time-out", status_code=504)
    if fault == "status_500":
        return PlainTextResponse("An unexpected error has occurred.", status_code=500)
    if fault == "html_error":
        return HTMLResponse(HTML_ERROR_PAGE, status_code=502)
    headers = {"Retry-After": retry_after(0)}
    return PlainTextResponse("Too many requests.", status_code=429, headers=headers)


def retry_after(wait: float) -> str:
    """Retry-After in whole seconds, rounded up and at least 1 (RFC 9110 allows no fraction;
    a decimal makes common retry libraries raise instead of waiting)."""
    return str(max(1, math.ceil(wait)))


async def _sleep_ms(ms: float) -> None:
    """Non-blocking delay (keeps hundreds of slow requests concurrent)."""
    if ms > 0:
        await asyncio.sleep(ms / 1000)
