"""Run the sandbox in a background thread for tests: ``with running_sandbox(cfg) as sb: ...``."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from odsandbox.app import create_app
from odsandbox.config import SandboxConfig
from odsandbox.state import SandboxState


@dataclass
class RunningSandbox:
    """Handle to a sandbox served on a real port."""

    base_url: str
    control_url: str
    manifest: dict[str, Any]
    state: SandboxState


# Linux's receive timestamps (socket(7)): the kernel notes when each packet arrived, and
# accepted sockets inherit the option from the listening one. Python names the constant only
# on some builds.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35) if sys.platform == "linux" else None


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening socket, so the real port is known before the server starts (port 0); on
    Linux with receive timestamps on (``kernel_arrival``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if SO_TIMESTAMPNS is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


def kernel_arrival(fileno: int) -> float | None:
    """When the first unread bytes waiting on a socket reached this machine, on the monotonic
    clock (read with MSG_PEEK: they stay for the reader); None if none are there yet or the
    kernel gives no timestamp."""
    if SO_TIMESTAMPNS is None:
        return None
    try:
        with socket.socket(fileno=fileno) as sock:
            try:
                _data, ancillary, _flags, _addr = sock.recvmsg(
                    1, socket.CMSG_SPACE(16), socket.MSG_PEEK | socket.MSG_DONTWAIT
                )
            finally:
                sock.detach()  # the fd is the transport's: never close it here
    except OSError:  # nothing there yet (BlockingIOError), or not a socket
        return None
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
            seconds, nanoseconds = struct.unpack("qq", data[:16])
            age = time.time() - (seconds + nanoseconds / 1e9)  # the stamp is wall-clock time
            return time.monotonic() - max(0.0, age)
    return None


class ArrivalStampingProtocol(HttpToolsProtocol):
    """Notes when each request arrived, as ``request.state.arrived``.

    The throttle must judge a request by its arrival. Stamped later, in the handler, a burst
    of requests (or worker threads holding the GIL) makes well-spaced requests look close
    together; the parser runs as soon as the event loop reads the socket. A new connection's
    first request waits longer: the loop accepts the connection, makes its transport and only
    then reads it, a few turns of a loop that may be busy, so a well-spaced request on a new
    connection looked late and the next one on it early. Its bytes are usually waiting by the
    time the connection is made, so it is stamped when the kernel received them.
    """

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        self._first_arrival = None if sock is None else kernel_arrival(sock.fileno())
        self._served = 0
        super().connection_made(transport)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        now = time.monotonic()
        self._served += 1
        first = self._first_arrival if self._served == 1 else None
        self.scope["state"]["arrived"] = now if first is None else min(first, now)
        # Which request of its connection this is (1: the one that opened it), for the trace.
        self.scope["state"]["nth_on_connection"] = self._served


def make_server(config: SandboxConfig, state: SandboxState) -> uvicorn.Server:
    """A quiet uvicorn server for the sandbox app."""
    app = create_app(config, state)
    uv_config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="on",
        backlog=2048,
        timeout_keep_alive=30,
        http=ArrivalStampingProtocol,
    )
    return uvicorn.Server(uv_config)


def url_for(host: str, sock: socket.socket) -> str:
    """http://HOST:PORT for a bound socket."""
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


@contextlib.contextmanager
def running_sandbox(
    config: SandboxConfig, host: str = "127.0.0.1", port: int = 0
) -> Iterator[RunningSandbox]:
    """Serve the sandbox with uvicorn in a background thread until the block exits."""
    state = SandboxState(config)
    sock = bind_socket(host, port)
    server = make_server(config, state)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        _wait_started(server, thread)
        root = url_for(host, sock)
        yield RunningSandbox(
            f"{root}/api/v1", f"{root}/_sandbox", state.manifest(f"{root}/api/v1"), state
        )
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        state.close()


def _wait_started(server: uvicorn.Server, thread: threading.Thread) -> None:
    """Block until uvicorn reports it is serving (or fail if the thread died)."""
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("sandbox server did not start")
        time.sleep(0.01)
