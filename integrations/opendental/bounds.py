"""What one request may cost: a total deadline over the whole exchange.

Why: httpx's timeouts apply to each socket operation, so an upstream that sends a byte every
few seconds holds a call (and its worker thread) for as long as it likes. Here
``deadline(seconds)`` sets the moment the current request must be done by. On the sync
transport (``bounded_http_client``) every connect, write and read of that request waits at
most until then, so the request ends at its deadline even mid-read. The async client wraps its
exchange in asyncio.timeout.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import httpcore
import httpx

# When the request being sent in this thread (or task) must be done, on the monotonic clock.
_DEADLINE: ContextVar[float | None] = ContextVar("opendental_deadline", default=None)


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """The requests sent inside this block must be done within ``seconds`` from now."""
    token = _DEADLINE.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def _bounded(timeout: float | None, error: type[Exception]) -> float | None:
    """A socket operation's timeout, cut to what is left before the deadline."""
    at = _DEADLINE.get()
    if at is None:
        return timeout
    left = at - time.monotonic()
    if left <= 0:
        raise error("request deadline passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read and write stops at the deadline of the request using it."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _bounded(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _bounded(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, bounded))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's network backend (or ``backend``) with connections that keep the deadline."""

    def __init__(self, backend: httpcore.NetworkBackend | None = None) -> None:
        self.backend = backend if backend is not None else httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(
            self.backend.connect_tcp(host, port, bounded, local_address, socket_options)
        )

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self.backend.connect_unix_socket(path, bounded, socket_options))

    def sleep(self, seconds: float) -> None:
        self.backend.sleep(seconds)


def bounded_http_client(**kwargs: Any) -> httpx.Client:
    """An httpx.Client (``kwargs`` as for httpx.Client) whose connections keep the deadline.

    httpx takes no network backend, so the one of each of the client's transports (proxy
    transports included) is wrapped in place; a transport that is not httpx's own (a test's
    MockTransport) is left as it is.
    """
    client = httpx.Client(**kwargs)
    for transport in [client._transport, *client._mounts.values()]:
        if isinstance(transport, httpx.HTTPTransport):
            pool = transport._pool
            if not isinstance(pool._network_backend, DeadlineBackend):
                pool._network_backend = DeadlineBackend(pool._network_backend)
    return client
