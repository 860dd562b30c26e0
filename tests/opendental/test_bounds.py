"""What one request may cost and say, over real HTTP on loopback: a total deadline, a size
cap, error texts that never quote an answer that is not Open Dental's, and connection failures
that read the same, open port or closed.

Each test starts a tiny upstream in a thread (``upstream``) that misbehaves one way: drips its
answer a byte at a time, streams 300 MB (or a gzip bomb), answers with an HTML page or a long
body, or is no HTTP server at all. Both clients are tried: the sync one (httpx) and the async
one (aiohttp).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import socketserver
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import pytest

from integrations.offices.services.health import error_text, office_health_record_error
from integrations.opendental import (
    LocalPacer,
    NullPacer,
    OpenDentalClient,
    ResponseTooLarge,
    ServerError,
    Timeout,
    Unreachable,
    shared_http_client,
)
from integrations.opendental.aio import AsyncOpenDentalClient, async_transport
from tests.helpers import CONTRACT_SCALE, contract_office

DEV, CUST = "DevKey0123456789", "CustKey012345678"
MARKER = "Internal-Marker-7f3a"  # text of a body that must never be shown
MiB = 1024 * 1024
BLOCK = b" " * MiB  # what the 300 MB upstream sends, over and over (allocated once)
Respond = Callable[[socket.socket, threading.Event, dict], None]


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@contextmanager
def upstream(respond: Respond) -> Iterator[tuple[str, dict]]:
    """An HTTP server on loopback whose every request is answered by ``respond(sock, stop,
    stats)``; yields its base URL and stats (``requests``, ``sent`` bytes)."""
    stop = threading.Event()
    stats = {"requests": 0, "sent": 0}

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            sock: socket.socket = self.request
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            head = b""
            while b"\r\n\r\n" not in head:
                data = sock.recv(65536)
                if not data:
                    return
                head += data
            stats["requests"] += 1
            with contextlib.suppress(OSError):  # the client hung up, as it should
                respond(sock, stop, stats)

    server = _Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/v1", stats
    finally:
        stop.set()
        server.shutdown()
        server.server_close()


def _send(sock: socket.socket, stats: dict, data: bytes) -> None:
    sock.sendall(data)
    stats["sent"] += len(data)


def answer(status: int, body: bytes, **headers: str) -> Respond:
    """One complete answer."""
    lines = [f"HTTP/1.1 {status} Whatever", f"Content-Length: {len(body)}", "Connection: close"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]

    def respond(sock, stop, stats):
        _send(sock, stats, ("\r\n".join(lines) + "\r\n\r\n").encode() + body)

    return respond


def drip(interval_s: float, where: str) -> Respond:
    """A 200 answer sent one byte every ``interval_s``: all of it, or only its body."""
    body = b"[" + b" " * 998 + b"]"
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"

    def respond(sock, stop, stats):
        if where == "body":
            _send(sock, stats, head)
        for byte in body if where == "body" else head + body:
            _send(sock, stats, bytes([byte]))
            if stop.wait(interval_s):
                return

    return respond


def endless(total: int, status: str = "200 OK", content_type: str = "application/json") -> Respond:
    """An answer of ``total`` bytes, chunked (no Content-Length to refuse it by)."""

    def respond(sock, stop, stats):
        head = f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n".encode()
        _send(sock, stats, head + b"Transfer-Encoding: chunked\r\n\r\n")
        while stats["sent"] < total and not stop.is_set():
            _send(sock, stats, b"100000\r\n")
            _send(sock, stats, BLOCK)
            _send(sock, stats, b"\r\n")
        _send(sock, stats, b"0\r\n\r\n")

    return respond


def gzip_zeros(size: int) -> bytes:
    """``size`` zero bytes, gzipped (about a thousandth of the size)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(MiB)
    return b"".join(packer.compress(block) for _ in range(size // MiB)) + packer.flush()


def sync_client(base_url: str, **kwargs) -> OpenDentalClient:
    kwargs.setdefault("pacer", NullPacer())
    kwargs.setdefault("min_interval_s", 0)
    kwargs.setdefault("max_retries", 0)
    return OpenDentalClient(base_url, DEV, CUST, **kwargs)


def sync_call(base_url: str, **kwargs):
    """GET /clinics with the sync client (on its own bounded httpx.Client)."""
    return sync_client(base_url, **kwargs).clinics()


def async_call(base_url: str, **kwargs):
    """GET /clinics with the async client (aiohttp's pool, a new event loop)."""
    kwargs.setdefault("pacer", NullPacer())
    kwargs.setdefault("min_interval_s", 0)
    kwargs.setdefault("max_retries", 0)

    async def main():
        async with async_transport(max_connections=4) as pool:
            client = AsyncOpenDentalClient(base_url, DEV, CUST, transport=pool, **kwargs)
            return await client.arequest("GET", "/clinics")

    return asyncio.run(main())


CALLS = [pytest.param(sync_call, id="sync"), pytest.param(async_call, id="async")]


def raised(call, base_url: str, **kwargs) -> tuple[Exception, float]:
    """The error ``call`` ends with, and how long it took."""
    started = time.monotonic()
    with pytest.raises(Exception) as info:
        call(base_url, **kwargs)
    return info.value, time.monotonic() - started


# --- what a fault may say -----------------------------------------------------------------


HTML_PAGE = (
    f"<!DOCTYPE html><html><head><title>{MARKER} admin console</title></head>"
    f"<body><h1>{MARKER}</h1><p>{'Internal details. ' * 600}</p></body></html>"
).encode()


@pytest.mark.parametrize("call", CALLS)
def test_an_html_error_page_is_described_in_the_stored_error_never_quoted(call):
    with upstream(answer(502, HTML_PAGE, Content_Type="text/html; charset=utf-8")) as (url, _):
        exc, _ = raised(call, url)
    assert isinstance(exc, ServerError)
    assert (
        error_text(exc) == "HTTP 502 · ServerError: not an Open Dental response: text/html, 11 KiB"
    )
    for text in (str(exc), repr(exc), exc.body, error_text(exc)):
        assert MARKER not in text and "Internal" not in text


def test_a_400_with_a_long_body_is_described_in_the_stored_error_never_quoted(office):
    body = (f"{MARKER}: " + "a long diagnostic line\n" * 200).encode()
    with upstream(answer(400, body, Content_Type="text/plain")) as (url, _):
        exc, _ = raised(sync_call, url)
    assert (
        error_text(exc) == "HTTP 400 · BadRequest: not an Open Dental response: text/plain, 4.5 KiB"
    )
    assert MARKER not in str(exc) and MARKER not in error_text(exc)
    office_health_record_error(office=office, key=None, exc=exc)
    office.refresh_from_db()
    change = office.status_changes.latest("pk")
    for stored in (office.last_error, change.error):
        assert stored == error_text(exc) and MARKER not in stored


@pytest.mark.parametrize("call", CALLS)
def test_open_dental_s_own_short_error_text_is_kept(call):
    body = b"Customer key is disabled (DisabledByCustomer).\r\n"
    with upstream(answer(401, body, Content_Type="text/plain")) as (url, _):
        exc, _ = raised(call, url)
    assert (
        error_text(exc) == "HTTP 401 · KeyRejected: Customer key is disabled (DisabledByCustomer)."
    )


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("call", CALLS)
def test_connection_failures_read_the_same_whether_the_port_is_closed_or_open(call):
    def hang_up(sock, stop, stats):
        sock.close()

    def not_http(sock, stop, stats):
        _send(sock, stats, b"SSH-2.0-OpenSSH_9.6\r\n")

    texts = set()
    exc, _ = raised(call, f"http://127.0.0.1:{_closed_port()}/api/v1")
    texts.add((type(exc), str(exc), error_text(exc)))
    for respond in (hang_up, not_http):
        with upstream(respond) as (url, _):
            exc, _ = raised(call, url)
        texts.add((type(exc), str(exc), error_text(exc)))
    assert texts == {
        (
            Unreachable,
            "Could not connect to 127.0.0.1",
            "Unreachable: Could not connect to 127.0.0.1",
        )
    }


# --- the deadline -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "interval_s", "where"),
    [
        pytest.param(sync_call, 2.0, "body", id="sync-body-every-2s"),
        pytest.param(sync_call, 2.0, "headers", id="sync-headers-every-2s"),
        pytest.param(sync_call, 0.2, "headers", id="sync-headers-every-0.2s"),
        pytest.param(sync_call, 0.2, "body", id="sync-body-every-0.2s"),
        pytest.param(async_call, 2.0, "body", id="async-body-every-2s"),
        pytest.param(async_call, 0.2, "headers", id="async-headers-every-0.2s"),
    ],
)
def test_a_dripping_upstream_is_cut_at_the_deadline(call, interval_s, where):
    # Each read returns within the drip interval, far below the 30 s read timeout: only the
    # deadline over the whole exchange can end this call.
    with upstream(drip(interval_s, where)) as (url, stats):
        exc, elapsed = raised(call, url, deadline_s=1.5, timeout=httpx.Timeout(30))
    assert isinstance(exc, Timeout) and exc.transient
    assert str(exc) == "No complete response within 1.5 s"
    # About the deadline: well before the next byte of a 2 s drip, and not a read timeout.
    assert 1.4 <= elapsed < 1.9, elapsed
    assert stats["requests"] == 1


def test_a_timed_out_call_is_retried_a_bounded_number_of_times():
    with upstream(drip(0.1, "body")) as (url, stats):
        client = sync_client(url, deadline_s=0.5, max_retries=2, sleep=lambda _s: None)
        started = time.monotonic()
        with pytest.raises(Timeout):
            client.clinics()
    assert stats["requests"] == 3
    assert time.monotonic() - started < 3 * 0.5 + 1.0


def test_one_account_held_by_a_dripping_upstream_does_not_hold_up_another(sandbox):
    http = shared_http_client()  # both accounts share the process's connection pool
    spec = contract_office(sandbox, "Paid Clinics")
    other = OpenDentalClient(
        sandbox.base_url, sandbox.manifest["developer_key"], spec["customer_key"],
        http_client=http, pacer=LocalPacer(), throttle_scale=CONTRACT_SCALE,
        permissions=frozenset(spec["permissions"]),
    )  # fmt: skip
    held: dict = {}

    def held_call(url: str) -> None:
        client = sync_client(url, http_client=http, deadline_s=3.0, timeout=httpx.Timeout(30))
        started = time.monotonic()
        try:
            client.clinics()
        except Exception as exc:  # noqa: BLE001 - checked below
            held.update(error=exc, elapsed=time.monotonic() - started)

    with upstream(drip(2.0, "body")) as (url, _):
        thread = threading.Thread(target=held_call, args=(url,))
        thread.start()
        time.sleep(0.3)  # the held call is on the wire
        assert [c.clinic_num for c in other.clinics()] == spec["clinic_nums"]
        assert thread.is_alive()  # the other account's call ended while this one was held
        thread.join(timeout=10)
    assert isinstance(held["error"], Timeout)
    assert 2.9 <= held["elapsed"] < 4.0, held["elapsed"]


# --- the size cap -------------------------------------------------------------------------


@pytest.mark.parametrize("call", CALLS)
def test_a_300_mb_answer_is_cut_at_the_size_cap_without_growing_memory(call):
    with upstream(endless(300 * MiB)) as (url, stats):
        tracemalloc.start()
        try:
            exc, _ = raised(call, url)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert isinstance(exc, ResponseTooLarge) and exc.permanent
    assert str(exc) == "Response larger than 16 MiB" and exc.status == 200
    assert peak < 40 * MiB, peak  # the cap (16 MiB) and a chunk, not 300 MB
    assert stats["sent"] < 100 * MiB  # the rest was never sent: the connection was dropped


@pytest.mark.parametrize("call", CALLS)
def test_a_300_mb_error_page_is_read_only_as_far_as_it_takes_to_describe_it(call):
    with upstream(endless(300 * MiB, "500 Internal Server Error", "text/html")) as (url, stats):
        exc, _ = raised(call, url)
    assert isinstance(exc, ServerError) and exc.status == 500
    assert str(exc) == "HTTP 500: not an Open Dental response: text/html, over 64 KiB"
    assert stats["sent"] < 100 * MiB


def declares_300_mb(sock, stop, stats):
    """Says 300 MB are coming, sends one byte and holds the connection open."""
    _send(sock, stats, b"HTTP/1.1 200 OK\r\nContent-Length: 314572800\r\n\r\n[")
    stop.wait(10)


@pytest.mark.parametrize("call", CALLS)
def test_a_declared_oversize_answer_is_refused_unread(call):
    with upstream(declares_300_mb) as (url, _):
        exc, elapsed = raised(call, url, deadline_s=5)
    assert isinstance(exc, ResponseTooLarge)
    assert elapsed < 2  # not waiting for a body it would refuse anyway


@pytest.mark.parametrize("call", CALLS)
def test_a_compressed_answer_is_capped_once_decompressed(call):
    bomb = gzip_zeros(64 * MiB)  # ~64 KiB on the wire
    with upstream(answer(200, bomb, Content_Encoding="gzip")) as (url, _):
        tracemalloc.start()
        try:
            exc, _ = raised(call, url, max_response_bytes=MiB)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert isinstance(exc, ResponseTooLarge) and str(exc) == "Response larger than 1 MiB"
    assert peak < 8 * MiB, peak


@pytest.mark.parametrize("call", CALLS)
def test_a_compressed_page_under_the_cap_is_read(call):
    page = b'[{"ClinicNum": 1, "Description": "Main", "Abbr": "M", "IsHidden": "false"}]'
    packer = zlib.compressobj(6, zlib.DEFLATED, 31)
    with upstream(answer(200, packer.compress(page) + packer.flush(), Content_Encoding="gzip",
                         Content_Type="application/json")) as (url, _):  # fmt: skip
        result = call(url)
    assert len(result) == 1
