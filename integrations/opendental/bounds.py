"""What one request may cost: a total deadline over the whole exchange and a cap on the body.

Why: httpx's timeouts apply to each socket operation, so an upstream that sends a byte every
few seconds holds a call (and its worker thread) for as long as it likes; and a body is read
whole into memory, whatever its size. Here:

- ``deadline(seconds)`` sets the moment the current request must be done by. On the sync
  transport (``bounded_http_client``) every connect, write and read of that request waits at
  most until then, so the request ends at its deadline even mid-read; the body loop checks it
  between chunks too (any transport). The async client wraps its exchange in asyncio.timeout.
- ``BodyReader`` takes the body chunk by chunk and keeps at most ``limit`` bytes (plus one
  byte, to know it was over). It decodes gzip/deflate itself, bounded by the same limit, so
  a small compressed answer cannot grow past the cap either.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import httpcore
import httpx

from .errors import BadResponse

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


def check_deadline() -> None:
    """Raise httpx.ReadTimeout once the current request's deadline has passed."""
    at = _DEADLINE.get()
    if at is not None and time.monotonic() >= at:
        raise httpx.ReadTimeout("request deadline passed")


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
    MockTransport) is left as it is and only gets the checks between body chunks.
    """
    client = httpx.Client(**kwargs)
    for transport in [client._transport, *client._mounts.values()]:
        if isinstance(transport, httpx.HTTPTransport):
            pool = transport._pool
            if not isinstance(pool._network_backend, DeadlineBackend):
                pool._network_backend = DeadlineBackend(pool._network_backend)
    return client


class BodyReader:
    """A response body read chunk by chunk, decoded, into at most ``limit`` bytes.

    ``complete`` is False once the body (raw or decoded) is longer than ``limit``: the caller
    stops reading and closes the response (which drops the connection). ``decoded``: the
    chunks come decoded already (a response built whole, as test transports return).
    """

    def __init__(self, response: httpx.Response, limit: int, *, decoded: bool = False) -> None:
        self.limit = limit
        self.complete = True
        self._chunks: list[bytes] = []
        self._size = self._raw = 0
        coding = "" if decoded else response.headers.get("Content-Encoding", "")
        self._zlib = _decompressor(coding)
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            self.complete = False  # refused unread

    def feed(self, chunk: bytes) -> bool:
        """Take one raw chunk; False once the body is over the limit."""
        self._raw += len(chunk)
        room = self.limit - self._size
        if self._zlib is not None:
            try:
                chunk = self._zlib.decompress(chunk, room + 1)
            except zlib.error:
                raise BadResponse("Undecodable response body (corrupt compression)") from None
        else:
            chunk = chunk[: room + 1]
        self._chunks.append(chunk)
        self._size += len(chunk)
        if self._size > self.limit or self._raw > self.limit:
            self.complete = False
        return self.complete

    @property
    def content(self) -> bytes:
        """The body as read (its first ``limit`` bytes when it was longer)."""
        return b"".join(self._chunks)[: self.limit]


def _decompressor(coding: str) -> Any:
    """A zlib decompressor for a gzip/deflate body; None for identity (or codings we never ask
    for and cannot decode: their bytes are kept as sent, and will not parse)."""
    codings = [c.strip().lower() for c in coding.split(",") if c.strip().lower() != "identity"]
    if codings in (["gzip"], ["x-gzip"]):
        return zlib.decompressobj(zlib.MAX_WBITS | 16)
    if codings == ["deflate"]:
        return zlib.decompressobj(zlib.MAX_WBITS | 32)  # zlib-wrapped (RFC 9110), or gzip
    return None


def read_body(response: httpx.Response, limit: int) -> BodyReader:
    """Read a streamed (sync) response's body into a BodyReader, within the deadline."""
    whole = response.is_stream_consumed  # built whole in memory: nothing left to stream
    reader = BodyReader(response, limit, decoded=whole)
    if reader.complete:
        for chunk in [response.content] if whole else response.iter_raw():
            check_deadline()
            if not reader.feed(chunk):
                break
    return reader


async def aread_body(response: httpx.Response, limit: int) -> BodyReader:
    """``read_body`` for an async response (the deadline is the caller's asyncio.timeout)."""
    whole = response.is_stream_consumed
    reader = BodyReader(response, limit, decoded=whole)
    if reader.complete:
        chunks: AsyncIterator[bytes] = _one(response.content) if whole else response.aiter_raw()
        async for chunk in chunks:
            if not reader.feed(chunk):
                break
    return reader


async def _one(content: bytes) -> AsyncIterator[bytes]:
    yield content
