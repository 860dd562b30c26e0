"""What one request may cost and say, over real HTTP on loopback: error texts that never quote
an answer that is not Open Dental's, and connection failures that read the same, open port or
closed.

Each test starts a tiny upstream in a thread (``upstream``) that misbehaves one way: answers
with an HTML page or a long body, or is no HTTP server at all. Both clients are tried: the
sync one (httpx) and the async one (aiohttp).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from integrations.offices.services.health import error_text, office_health_record_error
from integrations.opendental import (
    NullPacer,
    OpenDentalClient,
    ServerError,
    Unreachable,
)
from integrations.opendental.aio import AsyncOpenDentalClient, async_transport

DEV, CUST = "DevKey0123456789", "CustKey012345678"
MARKER = "Internal-Marker-7f3a"  # text of a body that must never be shown
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
