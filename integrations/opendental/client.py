"""HTTP clients for the Open Dental REST API and its Developer Portal API.

One `httpx.Client` per process is the intent (`shared_http_client()`); each API client adds the
`ODFHIR dev/cust` header and a bare `Content-Type: application/json` to every call, paces per
customer key before sending, retries only transient errors (bounded, exponential backoff with
full jitter, honouring Retry-After) and parses responses strictly into frozen dataclasses.
Each attempt ends within ``deadline_s`` and reads at most ``max_response_bytes`` (`bounds`).
Keys never appear in logs, reprs or exception messages.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import date, datetime
from functools import partial
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

import httpx

from . import bounds, network, parsing
from .errors import (
    BadResponse,
    OpenDentalError,
    PaceDeferred,
    ResponseTooLarge,
    Throttled,
    Timeout,
    Unreachable,
    classify,
    describe_body,
    size_text,
)
from .models import (
    AgingReportRow,
    ApiKey,
    Appointment,
    Clinic,
    Computer,
    FamilyAging,
    Patient,
    Preference,
    Provider,
    SecurityPerm,
    Subscription,
)
from .pacer import NullPacer, Pacer, Slot, default_pacer, pacer_key_id, throttle_interval_s

log = logging.getLogger(__name__)

REMOTE_BASE_URL = "https://api.opendental.com/api/v1"
# Open Dental answers within 60 s (then 504): a request may take a little longer, no more.
DEFAULT_DEADLINE_S = 65.0
# Far above any page (100 rows remotely, 1000 locally: well under 1 MiB), far below harm.
DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024
# Each socket operation's own limit; the deadline bounds them all (read: see ``_timeouts``).
DEFAULT_TIMEOUT = httpx.Timeout(connect=5, read=DEFAULT_DEADLINE_S, write=10, pool=5)
# Bytes of an error response read: enough for any text of Open Dental's, and to describe
# anything else without reading it all.
ERROR_BODY_LIMIT = 64 * 1024
DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)
PAGE_SIZE_REMOTE = 100
PAGE_SIZE_LOCAL = 1000
# Confirmations of one request's slot before it is sent regardless (``_late_wait``): each
# follows a wait outslept, so more than a couple means a process too busy to pace at all.
MAX_CONFIRMS = 3
MODES = ("Remote", "Local", "Service")
PATIENTS_SIMPLE_FILTERS = frozenset(
    {
        "LName", "FName", "Birthdate", "ClinicNum", "PatStatus", "DateTStamp", "PriProv",
        "Gender", "Position", "Guarantor", "SuperFamily", "EmployerNum", "FeeSched",
    }
)  # fmt: skip
PORTAL_KEY_STATUSES = frozenset({"Enabled", "DisabledByDeveloper"})
APPOINTMENT_STATUSES = frozenset(
    {"Scheduled", "Complete", "UnschedList", "ASAP", "Broken", "Planned", "PtNote",
     "PtNoteCompleted"}
)  # fmt: skip
# Subscription fields by our keyword names (apisubscriptions.html).
SUBSCRIPTION_FIELDS = {
    "end_point_url": "EndPointUrl", "workstation": "Workstation", "watch_table": "WatchTable",
    "polling_seconds": "PollingSeconds", "ui_event_type": "UiEventType",
    "date_time_start": "DateTimeStart", "date_time_stop": "DateTimeStop", "note": "Note",
}  # fmt: skip

T = TypeVar("T")
OnRequest = Callable[[str, str, int | None, float], Any]
Params = Mapping[str, Any]
# Transport failures where the request certainly never reached the server.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


_shared_clients: dict[network.NetworkGuard | None, httpx.Client] = {}
_shared_pid: int | None = None
_shared_lock = threading.Lock()


def shared_http_client(guard: network.NetworkGuard | None = None) -> httpx.Client:
    """The process-wide pooled httpx.Client (recreated after a fork); with ``guard``, the one
    whose every connection goes only to addresses the guard allows (one per guard)."""
    global _shared_pid
    with _shared_lock:
        if _shared_pid != os.getpid():
            _shared_clients.clear()
            _shared_pid = os.getpid()
        if guard not in _shared_clients:
            transport = (
                None if guard is None else network.GuardedTransport(guard, limits=DEFAULT_LIMITS)
            )
            # The deadline wraps the guard's backend: both hold for every connection.
            _shared_clients[guard] = bounds.bounded_http_client(
                timeout=DEFAULT_TIMEOUT, limits=DEFAULT_LIMITS, transport=transport
            )
        return _shared_clients[guard]


def _timeout_dict(timeout: httpx.Timeout | float | None) -> dict[str, float | None]:
    return (timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)).as_dict()


def _timeouts(deadline_s: float) -> httpx.Timeout:
    """The default per-operation timeouts, the read one as long as the deadline: the deadline
    is the one setting for how long an answer may take."""
    return httpx.Timeout(
        connect=DEFAULT_TIMEOUT.connect, read=deadline_s, write=DEFAULT_TIMEOUT.write,
        pool=DEFAULT_TIMEOUT.pool,
    )  # fmt: skip


class _SendClock:
    """httpx trace hook noting when the request headers were written to the socket."""

    __slots__ = ("sent",)

    def __init__(self, sent: list[float]) -> None:
        self.sent = sent

    def __call__(self, event: str, info: Any) -> None:
        if event.endswith("send_request_headers.complete"):
            self.sent.append(time.monotonic())


class _Exchange:
    """One send's outcome, filled in inside ``_ApiClient._exchange``."""

    __slots__ = ("response",)

    def __init__(self) -> None:
        self.response: httpx.Response | None = None


def _mask(key: str) -> str:
    return "…" + key[-4:] if len(key) > 8 else "…"


def _format_param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


class _ApiClient:
    """Shared request machinery: auth header, pacing, retries, error mapping, JSON decoding."""

    def __init__(
        self,
        base_url: str,
        key_pair: tuple[str, str],
        *,
        timeout: httpx.Timeout | None = None,
        deadline_s: float = DEFAULT_DEADLINE_S,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        pacer: Pacer | None = None,
        interval_s: float = 0.0,
        max_pace_wait_s: float | None = None,
        max_retries: int = 3,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 30.0,
        http_client: httpx.Client | None = None,
        on_request: OnRequest | None = None,
        sleep: Callable[[float], Any] = time.sleep,
    ) -> None:
        if not all(key_pair) or any("/" in k or k != k.strip() for k in key_pair):
            raise ValueError("API keys must be non-empty, without '/' or surrounding spaces")
        if deadline_s <= 0 or max_response_bytes <= 0:
            raise ValueError("deadline_s and max_response_bytes must be positive")
        self.base_url = base_url.rstrip("/")
        self._keys = key_pair
        self._auth = f"ODFHIR {key_pair[0]}/{key_pair[1]}"
        self.deadline_s = deadline_s
        self.max_response_bytes = max_response_bytes
        timeout = timeout if timeout is not None else _timeouts(deadline_s)
        self.timeout = timeout
        self.pacer = pacer if pacer is not None else NullPacer()
        self.pace_key_id = pacer_key_id(key_pair[1])
        self.interval_s = interval_s
        self.max_pace_wait_s = max_pace_wait_s
        self.max_retries = max_retries
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self._http = (
            http_client if http_client is not None else bounds.bounded_http_client(timeout=timeout)
        )
        self.on_request = on_request
        self._sleep = sleep
        # When this client's last request really went on the wire (monotonic clock).
        self._last_sent: float | None = None
        # The slot the request being sent was booked (``_late_wait``), and its confirmations.
        self._slot: Slot | None = None
        self._confirms = 0

    @property
    def timeout(self) -> httpx.Timeout | float | None:
        return self._timeout

    @timeout.setter
    def timeout(self, value: httpx.Timeout | float | None) -> None:
        # Every request carries the timeouts as an httpx extension: build it once, here.
        self._timeout = value
        self._timeout_extension = _timeout_dict(value)

    def without_retries(self) -> _ApiClient:
        """A copy sharing the connection pool and pacer that raises on the first failure."""
        clone = copy.copy(self)
        clone.max_retries = 0
        return clone

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        body: Any = None,
        retry: bool = True,
        idempotent: bool = True,
        expect_json: bool = True,
        decode: Callable[[bytes], Any] = parsing.loads,
    ) -> Any:
        """Send one API call (paced, retried if transient) and return the decoded JSON."""
        attempts = 1 + (self.max_retries if retry else 0)
        for attempt in range(attempts):
            try:
                return self._attempt(method, path, params, body, expect_json, decode)
            except OpenDentalError as exc:
                self._sleep(self._retry_delay(exc, attempt, attempts, idempotent, method, path))
        raise AssertionError("unreachable")  # pragma: no cover

    def _retry_delay(
        self,
        exc: OpenDentalError,
        attempt: int,
        attempts: int,
        idempotent: bool,
        method: str,
        path: str,
    ) -> float:
        """The backoff before the next attempt; re-raises ``exc`` when there is none."""
        if attempt + 1 >= attempts or not self._retryable(exc, idempotent):
            raise exc
        delay = self._backoff(exc, attempt)
        log.warning(
            "Open Dental %s %s failed (%s); retry %d/%d in %.2fs",
            method, path, type(exc).__name__, attempt + 1, attempts - 1, delay,
        )  # fmt: skip
        return delay

    def _retryable(self, exc: OpenDentalError, idempotent: bool) -> bool:
        if exc.permanent or isinstance(exc, PaceDeferred):
            # A deferral is the caller's cue to re-queue, not to sleep here until the slot.
            return False
        if idempotent:
            return True
        # A create must not run twice: retry only when the server surely did not act on it.
        return isinstance(exc, Throttled) or isinstance(exc.__cause__, _NOT_SENT)

    def _backoff(self, exc: OpenDentalError, attempt: int) -> float:
        if isinstance(exc, Throttled) and exc.retry_after is not None:
            return min(exc.retry_after, self.backoff_max_s)
        ceiling = min(self.backoff_max_s, self.backoff_base_s * (2**attempt))
        return random.uniform(0, ceiling)  # full jitter

    def _attempt(
        self,
        method: str,
        path: str,
        params: Params | None,
        body: Any,
        expect_json: bool,
        decode: Callable[[bytes], Any],
    ) -> Any:
        wait: float | None = self._pace_wait()
        while wait is not None:
            if wait > 0:
                self._sleep(wait)
            wait = self._late_wait()
        request = self._build(method, path, params, body)
        with bounds.deadline(self.deadline_s), self._exchange(method, path, request) as exchange:
            exchange.response = response = self._http.send(request, stream=True)
            try:
                reader = bounds.read_body(response, self._body_limit(response))
            finally:
                response.close()  # a body read only in part closes its connection
        return self._result(response, reader, expect_json, decode)

    def _body_limit(self, response: httpx.Response) -> int:
        """How much of this response's body to read: an answer up to the size cap, an error
        only as much as it takes to tell Open Dental's text from anything else."""
        if response.is_success:
            return self.max_response_bytes
        return min(ERROR_BODY_LIMIT, self.max_response_bytes)

    def _result(
        self,
        response: httpx.Response,
        reader: bounds.BodyReader,
        expect_json: bool,
        decode: Callable[[bytes], Any],
    ) -> Any:
        """The decoded body of a response, or its fault as an OpenDentalError."""
        status = response.status_code
        if not response.is_success:
            cut_at = None if reader.complete else reader.limit
            raise classify(response, self._scrub(reader.content), cut_at=cut_at)
        if not reader.complete:
            limit = size_text(self.max_response_bytes)
            raise ResponseTooLarge(f"Response larger than {limit}", status=status)
        if not expect_json:
            return None
        content = reader.content
        try:
            return decode(content)
        except BadResponse as exc:
            exc.status = status
            if content.strip() and content.lstrip()[:1] not in (b"[", b"{", b'"'):
                # Not JSON at all (an HTML page, binary): say what it is, not what it says.
                content_type = response.headers.get("Content-Type")
                raise BadResponse(describe_body(content, content_type), status=status) from None
            raise

    def _pace_wait(self) -> float:
        """Book this key's next request slot; the seconds to wait for it (PaceDeferred when
        it is further away than ``max_pace_wait_s``)."""
        if self.interval_s <= 0:
            self._slot = None
            return 0.0
        slot = self.pacer.book(self.pace_key_id, self.interval_s, self.max_pace_wait_s)
        if not slot.booked:
            raise PaceDeferred(f"Next request slot is {slot.wait:.2f}s away", retry_after=slot.wait)
        return self._booked(slot)

    def _booked(self, slot: Slot) -> float:
        """Take a booked slot as this request's: the wait for it from now, spaced."""
        self._slot, self._confirms = slot, 0
        return self._wait_for(slot)

    def _wait_for(self, slot: Slot) -> float:
        """The wait from now until a slot, spaced from this client's previous send."""
        return self._spaced(max(0.0, slot.due - time.monotonic()))

    def _spaced(self, wait: float) -> float:
        """A booked slot's wait, made long enough after the previous request really left.

        The pacer books slots, but a busy process can put a request on the wire well after
        its slot (a thread waiting for the GIL inside httpx): keep the spacing from when the
        previous request really left, or the server sees two too close together.
        """
        if self._last_sent is not None:
            since = time.monotonic() - self._last_sent
            wait = max(wait, self.pacer.padded(self.interval_s) - since)
        return wait

    def _late_wait(self) -> float | None:
        """Just before sending: None if this request is still on its slot; if it is late (a
        wait outslept, or spaced past its slot), a further wait, having confirmed the slot.

        Whoever booked this key's next slot (another client, another process) is spaced from
        this slot, not from this late send: confirming moves the slot to now, or books this
        request after theirs. Half the pacer's margin is the lateness allowed; the other half
        covers the send itself.
        """
        slot = self._slot
        if slot is None or self._confirms >= MAX_CONFIRMS:
            return None
        allowed = (self.pacer.padded(self.interval_s) - self.interval_s) / 2
        late = time.monotonic() - slot.due
        if allowed <= 0 or late <= allowed:
            return None
        self._confirms += 1
        self._slot = slot = self.pacer.confirm(self.pace_key_id, slot, self.interval_s)
        log.debug(
            "Open Dental request %.3fs late for its slot, confirmed: wait %.3fs", late, slot.wait
        )
        return self._wait_for(slot)

    def _build(self, method: str, path: str, params: Params | None, body: Any) -> httpx.Request:
        url = self.base_url + path
        query = {k: _format_param(v) for k, v in (params or {}).items() if v is not None}
        if query:
            url += "?" + urlencode(query, quote_via=quote)  # %20 for spaces, as the docs show
        # httpx.Headers masks Authorization in its repr, so tracebacks and debug pages that
        # list local variables never show the key pair.
        headers = httpx.Headers({"Authorization": self._auth, "Content-Type": "application/json"})
        content = None if body is None else json.dumps(body, default=str).encode()
        # A ready-made Request skips the client's URL merging and default headers (a good part
        # of httpx's cost per call); the timeout goes in as build_request would.
        return httpx.Request(
            method, url, headers=headers, content=content,
            extensions={"timeout": self._timeout_extension, "trace": _SendClock([])},
        )  # fmt: skip

    @contextmanager
    def _exchange(self, method: str, path: str, request: httpx.Request) -> Iterator[_Exchange]:
        """Around one send (sync or async): transport failures as OpenDentalErrors, and the
        bookkeeping (when it went on the wire, the on_request hook)."""
        exchange = _Exchange()
        started = time.monotonic()
        try:
            yield exchange
        except _NOT_SENT as exc:
            refused = network.refusal(exc)
            if refused is not None:  # the guard's: permanent until the address is allowed
                raise Unreachable(str(refused), permanent=True) from exc
            raise self._unreachable(request) from exc
        except httpx.TimeoutException as exc:
            raise Timeout(f"No complete response within {self.deadline_s:g} s") from exc
        except httpx.TransportError as exc:
            # Refused, reset or not HTTP at all: the same words, so that an error never tells
            # a listening port from a closed one (the cause stays on __cause__, for logs).
            raise self._unreachable(request) from exc
        except httpx.DecodingError as exc:  # e.g. a corrupt gzip body
            raise BadResponse(f"Undecodable response body: {type(exc).__name__}") from exc
        finally:
            elapsed = time.monotonic() - started
            sent = request.extensions["trace"].sent
            # Unknown send time (a failure mid-send, or a transport without trace events):
            # assume the latest, the safe side.
            self._last_sent = sent[-1] if sent else started + elapsed
            status = None if exchange.response is None else exchange.response.status_code
            log.debug("Open Dental %s %s -> %s in %.3fs", method, path, status, elapsed)
            if self.on_request is not None:
                self.on_request(method, path, status, elapsed)

    @staticmethod
    def _unreachable(request: httpx.Request) -> Unreachable:
        return Unreachable(f"Could not connect to {request.url.host}")

    def _scrub(self, content: bytes) -> bytes:
        """Remove our own keys should a server ever echo them back."""
        for key in self._keys:
            content = content.replace(key.encode(), b"***")
        return content

    def paginate(
        self,
        path: str,
        params: Params | None = None,
        page_size: int = PAGE_SIZE_REMOTE,
        *,
        send_limit: bool = True,
    ) -> Iterator[Any]:
        """Yield every row of a list endpoint, paging with Limit/Offset until a short page."""
        offset = 0
        while True:
            query = dict(params or {})
            query["Offset"] = offset
            if send_limit:
                query["Limit"] = page_size
            page = parsing.expect_list(self.request("GET", path, params=query), path)
            yield from page
            if len(page) < page_size:
                return
            offset += len(page)

    def _list(self, path: str, params: Params | None = None) -> list[Any]:
        return parsing.expect_list(self.request("GET", path, params=params), path)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(base_url={self.base_url!r}, "
            f"keys={_mask(self._keys[0])}/{_mask(self._keys[1])})"
        )


class OpenDentalClient(_ApiClient):
    """Client for one customer key (one office) of the Open Dental REST API."""

    def __init__(
        self,
        base_url: str,
        developer_key: str,
        customer_key: str,
        *,
        mode: str = "Remote",
        timeout: httpx.Timeout | None = None,
        deadline_s: float = DEFAULT_DEADLINE_S,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        pacer: Pacer | None = None,
        min_interval_s: float | None = None,
        permissions: frozenset[str] | None = None,
        throttle_scale: float = 1.0,
        max_pace_wait_s: float | None = None,
        page_size: int | None = None,
        max_retries: int = 3,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 30.0,
        http_client: httpx.Client | None = None,
        on_request: OnRequest | None = None,
        sleep: Callable[[float], Any] = time.sleep,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        self.mode = mode
        self.min_interval_s = min_interval_s
        self.throttle_scale = throttle_scale
        self.page_size = page_size or (PAGE_SIZE_REMOTE if mode == "Remote" else PAGE_SIZE_LOCAL)
        super().__init__(
            base_url,
            (developer_key, customer_key),
            timeout=timeout,
            deadline_s=deadline_s,
            max_response_bytes=max_response_bytes,
            pacer=pacer if pacer is not None else default_pacer(),
            interval_s=self._interval_for(permissions or frozenset()),
            max_pace_wait_s=max_pace_wait_s,
            max_retries=max_retries,
            backoff_base_s=backoff_base_s,
            backoff_max_s=backoff_max_s,
            http_client=http_client,
            on_request=on_request,
            sleep=sleep,
        )

    def _interval_for(self, permissions: frozenset[str]) -> float:
        # With no permissions known the interval is the strictest one (ReadAll only: 5 s).
        if self.min_interval_s is not None:
            return self.min_interval_s
        return throttle_interval_s(permissions, self.mode) * self.throttle_scale

    def without_retries(self) -> OpenDentalClient:
        """A copy sharing the connection pool and pacer that raises on the first failure."""
        clone = super().without_retries()
        assert isinstance(clone, OpenDentalClient)
        return clone

    def security_perms(self) -> list[SecurityPerm]:
        """apisecurity.html: GET /securityperms."""
        return [SecurityPerm.from_json(row) for row in self._list("/securityperms")]

    def granted_permissions(self) -> frozenset[str]:
        """apisecurity.html: GET /securityperms, the granted ones; also sets the pacing interval."""
        return self._granted(self._list("/securityperms"))

    def _granted(self, rows: list[Any]) -> frozenset[str]:
        perms = [SecurityPerm.from_json(row) for row in rows]
        granted = frozenset(p.permission for p in perms if p.has_permission)
        self.interval_s = self._interval_for(granted)
        return granted

    def preferences(self, pref_name: str | None = None) -> list[Preference]:
        """apipreferences.html: GET /preferences (all of them, paged, when no PrefName)."""
        if pref_name is not None:
            rows = self._list("/preferences", {"PrefName": pref_name})
        else:
            rows = list(self.paginate("/preferences", None, self.page_size))
        return [Preference.from_json(row) for row in rows]

    def preference(self, name: str) -> str | None:
        """apipreferences.html: GET /preferences?PrefName=name, its ValueString or None."""
        return self._preference_value(self._list("/preferences", {"PrefName": name}), name)

    @staticmethod
    def _preference_value(rows: list[Any], name: str) -> str | None:
        for pref in (Preference.from_json(row) for row in rows):
            if pref.pref_name.lower() == name.lower():
                return pref.value_string
        return None

    def clinics(self) -> list[Clinic]:
        """apiclinics.html: GET /clinics (an empty list: the office does not use clinics)."""
        return [Clinic.from_json(row) for row in self._list("/clinics")]

    def providers(
        self, clinic_num: int | None = None, date_t_stamp: datetime | None = None
    ) -> list[Provider]:
        """apiproviders.html: GET /providers, by ClinicNum or changed since DateTStamp."""
        params = {"ClinicNum": clinic_num, "DateTStamp": date_t_stamp}
        rows = self.paginate("/providers", params, self.page_size)
        return [Provider.from_json(row) for row in rows]

    def appointments(
        self,
        *,
        date_start: date | None = None,
        date_end: date | None = None,
        apt_status: str | None = None,
        clinic_num: int | None = None,
        date_t_stamp: datetime | None = None,
        pat_num: int | None = None,
        page_size: int | None = None,
    ) -> Iterator[Appointment]:
        """apiappointments.html: GET /appointments, every page; dateStart/dateEnd inclusive,
        ClinicNum 0 for appointments without a clinic, DateTStamp for changes since."""
        return (Appointment.from_json(row) for row in self.paginate(
            "/appointments",
            _appointment_params(date_start, date_end, apt_status, clinic_num, date_t_stamp,
                                pat_num),
            page_size or self.page_size,
        ))  # fmt: skip

    def appointment(self, apt_num: int) -> Appointment:
        """apiappointments.html: GET /appointments/{AptNum}."""
        return Appointment.from_json(self.request("GET", f"/appointments/{int(apt_num)}"))

    def computers(self) -> list[Computer]:
        """apicomputers.html: GET /computers (each workstation's LastHeartBeat)."""
        # One call without paging parameters, as for subscriptions: a few rows, not
        # documented as paged.
        return [Computer.from_json(row) for row in self._list("/computers")]

    def subscriptions(self) -> list[Subscription]:
        """apisubscriptions.html: GET /subscriptions (this customer key's)."""
        return [Subscription.from_json(row) for row in self._list("/subscriptions")]

    def subscription_create(self, *, end_point_url: str, **fields: Any) -> Subscription:
        """apisubscriptions.html: POST /subscriptions (WatchTable + PollingSeconds for database
        events, or UiEventType); retried only if surely not received."""
        body = _subscription_body(end_point_url=end_point_url, **fields)
        data = self.request("POST", "/subscriptions", body=body, idempotent=False)
        return Subscription.from_json(data)

    def subscription_update(self, subscription_num: int, **fields: Any) -> None:
        """apisubscriptions.html: PUT /subscriptions/{SubscriptionNum}; fields left out stay."""
        path = f"/subscriptions/{int(subscription_num)}"
        self.request("PUT", path, body=_subscription_body(**fields), expect_json=False)

    def subscription_delete(self, subscription_num: int) -> None:
        """apisubscriptions.html: DELETE /subscriptions/{SubscriptionNum}."""
        path = f"/subscriptions/{int(subscription_num)}"
        self.request("DELETE", path, expect_json=False)

    def patients_simple(self, *, page_size: int | None = None, **filters: Any) -> Iterator[Patient]:
        """apipatients.html: GET /patients/Simple, every page; filters are Open Dental names."""
        unknown = set(filters) - PATIENTS_SIMPLE_FILTERS
        if unknown:
            raise ValueError(f"Unknown patients/Simple filters: {sorted(unknown)}")
        rows = self.paginate("/patients/Simple", filters, page_size or self.page_size)
        return (Patient.from_json(row) for row in rows)

    def patient(self, pat_num: int) -> Patient:
        """apipatients.html: GET /patients/{PatNum}."""
        return Patient.from_json(self.request("GET", f"/patients/{int(pat_num)}"))

    def family_aging(self, pat_num: int) -> FamilyAging:
        """apiaccountmodules.html: GET /accountmodules/{PatNum}/Aging."""
        return FamilyAging.from_json(self.request("GET", f"/accountmodules/{int(pat_num)}/Aging"))

    def aging_report(
        self, date_as_of: date | None = None, clinic_num: int | None = None
    ) -> Iterator[AgingReportRow]:
        """apireports.html: GET /reports/Aging, paged with Offset (the page size is the cap)."""
        params = {"DateAsOf": date_as_of, "ClinicNum": clinic_num}
        rows = self.paginate("/reports/Aging", params, self.page_size, send_limit=False)
        return (AgingReportRow.from_json(row) for row in rows)

    def short_query(
        self, sql: str, offset: int = 0, row_type: type[T] | None = None
    ) -> list[dict[str, Any]] | list[T]:
        """apiqueries.html: PUT /queries/ShortQuery, one page of rows from Offset.

        With ``row_type`` (a ``msgspec.Struct`` matching the query's columns, optionally with
        a ``matches_wire(content, rows)`` static method for what its types cannot say) a page
        that fits it exactly comes back as instances of it; any other page as dicts.
        """
        params, body, decode = self._short_query_call(sql, offset, row_type)
        data = self.request("PUT", "/queries/ShortQuery", params=params, body=body, decode=decode)
        return self._short_query_rows(data, row_type)

    @staticmethod
    def _short_query_call(
        sql: str, offset: int, row_type: type | None
    ) -> tuple[dict[str, int] | None, dict[str, str], Callable[[bytes], Any]]:
        """A ShortQuery's params, body and decoder."""
        decode = parsing.loads
        if row_type is not None:
            check = getattr(row_type, "matches_wire", None)
            decode = partial(parsing.loads_typed, type_=list[row_type], check=check)
        return ({"Offset": offset} if offset else None), {"SqlCommand": sql}, decode

    @staticmethod
    def _short_query_rows(data: Any, row_type: type | None) -> list[Any]:
        rows = parsing.expect_list(data, "ShortQuery")
        if rows and row_type is not None and type(rows[0]) is row_type:
            return rows
        return [parsing.expect_object(row, "ShortQuery row") for row in rows]

    def short_query_pages(self, sql: str, page_size: int = 100) -> Iterator[list[dict[str, Any]]]:
        """apiqueries.html: PUT /queries/ShortQuery, paging with Offset until a short page."""
        offset = 0
        while True:
            page = self.short_query(sql, offset)
            if page:
                yield page
            if len(page) < page_size:
                return
            offset += len(page)


def _appointment_params(
    date_start: date | None,
    date_end: date | None,
    apt_status: str | None,
    clinic_num: int | None,
    date_t_stamp: datetime | None,
    pat_num: int | None,
) -> dict[str, Any]:
    """GET /appointments' query, with Open Dental's own spelling of each name."""
    if apt_status is not None and apt_status not in APPOINTMENT_STATUSES:
        raise ValueError(f"apt_status must be one of {sorted(APPOINTMENT_STATUSES)}")
    return {
        "dateStart": date_start, "dateEnd": date_end, "AptStatus": apt_status,
        "ClinicNum": clinic_num, "DateTStamp": date_t_stamp, "PatNum": pat_num,
    }  # fmt: skip


def _subscription_body(**fields: Any) -> dict[str, Any]:
    """A subscription's JSON body from our keyword names (None: left out)."""
    unknown = set(fields) - set(SUBSCRIPTION_FIELDS)
    if unknown:
        raise ValueError(f"Unknown subscription fields: {sorted(unknown)}")
    return {
        SUBSCRIPTION_FIELDS[name]: _format_param(value) if isinstance(value, date) else value
        for name, value in fields.items()
        if value is not None
    }


class DeveloperPortalClient(_ApiClient):
    """Client for the Developer Portal API (apideveloperportal.html), keyed by the portal key."""

    def __init__(
        self,
        base_url: str,
        developer_key: str,
        portal_key: str,
        *,
        timeout: httpx.Timeout | None = None,
        deadline_s: float = DEFAULT_DEADLINE_S,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        max_retries: int = 3,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 30.0,
        http_client: httpx.Client | None = None,
        on_request: OnRequest | None = None,
        sleep: Callable[[float], Any] = time.sleep,
    ) -> None:
        super().__init__(
            base_url,
            (developer_key, portal_key),
            timeout=timeout,
            deadline_s=deadline_s,
            max_response_bytes=max_response_bytes,
            max_retries=max_retries,
            backoff_base_s=backoff_base_s,
            backoff_max_s=backoff_max_s,
            http_client=http_client,
            on_request=on_request,
            sleep=sleep,
        )

    def api_keys(self) -> list[ApiKey]:
        """apideveloperportal.html: GET /apikeys."""
        return [ApiKey.from_json(row) for row in self._list("/apikeys")]

    def api_key_find(self, customer_key: str) -> ApiKey | None:
        """apideveloperportal.html: GET /apikeys, the one entry for ``customer_key`` (or None)."""
        return next((k for k in self.api_keys() if k.customer_key == customer_key), None)

    def api_key_create(self, dev_ref_id: str | None = None) -> ApiKey:
        """apideveloperportal.html: POST /apikeys, optionally with the developer's DevRefId
        (retried only if surely not received)."""
        body = {"DevRefId": dev_ref_id} if dev_ref_id else {}
        return ApiKey.from_json(self.request("POST", "/apikeys", body=body, idempotent=False))

    def api_key_update(
        self, customer_key: str, *, key_status: str | None = None, dev_ref_id: str | None = None
    ) -> None:
        """apideveloperportal.html: PUT /apikeys with CustomerKey and optional KeyStatus
        (Enabled or DisabledByDeveloper) and DevRefId."""
        if key_status is not None and key_status not in PORTAL_KEY_STATUSES:
            raise ValueError(f"status must be one of {sorted(PORTAL_KEY_STATUSES)}")
        if key_status is None and dev_ref_id is None:
            raise ValueError("give key_status or dev_ref_id")
        body = {"CustomerKey": customer_key}
        body |= {"KeyStatus": key_status} if key_status is not None else {}
        body |= {"DevRefId": dev_ref_id} if dev_ref_id is not None else {}
        self.request("PUT", "/apikeys", body=body, expect_json=False)

    def api_key_set_status(self, customer_key: str, status: str) -> None:
        """apideveloperportal.html: PUT /apikeys with KeyStatus Enabled or DisabledByDeveloper."""
        self.api_key_update(customer_key, key_status=status)


__all__ = [
    "DEFAULT_DEADLINE_S",
    "DEFAULT_LIMITS",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_TIMEOUT",
    "REMOTE_BASE_URL",
    "DeveloperPortalClient",
    "OpenDentalClient",
    "shared_http_client",
]
