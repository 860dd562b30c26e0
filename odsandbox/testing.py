"""Run the sandbox in a background thread for tests: ``with running_sandbox(cfg) as sb: ...``."""

from __future__ import annotations

import contextlib
import socket
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


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening socket, so the real port is known before the server starts (port 0)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


class ArrivalStampingProtocol(HttpToolsProtocol):
    """Notes when each request's first bytes were read, as ``request.state.arrived``.

    The throttle must judge a request by its arrival. Stamped later, in the handler, a burst
    of requests (or worker threads holding the GIL) makes well-spaced requests look close
    together; the parser runs as soon as the event loop reads the socket.
    """

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope["state"]["arrived"] = time.monotonic()
        # Which request of its connection this is (1: the one that opened it), for the trace.
        self._served = getattr(self, "_served", 0) + 1
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
