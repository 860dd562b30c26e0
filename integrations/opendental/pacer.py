"""Per-customer-key request pacing, done before sending so the throttle is never hit.

Open Dental throttles per customer key, start to start (apiimplementation.html, "Throttling"):
5 s with only ApiReadAll, 1 s with any other permission, 0.5 s with ApiEnterprise; Local and
Service modes are not throttled. A pacer books the next free slot for a key atomically and says
how long to wait for it. Keys are identified by `pacer_key_id()`, a keyed hash, never the key.

Each key remembers the start of its last booked slot; a booking takes
`max(now, last + interval)`. Storing the start (not "start + interval") lets every caller apply
the interval it knows for that key at booking time.

A request that goes out well after its slot (a busy event loop, a thread waiting for the GIL)
would leave the next booked slot, perhaps another process's, too close behind it: such a
request ``confirm``s its slot first, which moves the key's last slot to the real send time when
no one has booked since, and otherwise books it the next free slot.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

logger = logging.getLogger(__name__)

INTERVAL_READ_ALL_ONLY_S = 5.0
INTERVAL_PAID_S = 1.0
INTERVAL_ENTERPRISE_S = 0.5
UNPACED_MODES = frozenset({"service", "local"})
_KEY_ID_SALT = b"odportal-pacer-v1"


def throttle_interval_s(permissions: Iterable[str], mode: str = "Remote") -> float:
    """Seconds between request starts that Open Dental enforces for a key with these perms."""
    if mode.lower() in UNPACED_MODES:
        return 0.0
    granted = set(permissions)
    if "ApiEnterprise" in granted:
        return INTERVAL_ENTERPRISE_S
    if granted - {"ApiReadAll"}:
        return INTERVAL_PAID_S
    return INTERVAL_READ_ALL_ONLY_S


def pacer_key_id(customer_key: str) -> str:
    """A stable, non-reversible id for a customer key (HMAC-SHA256, 24 hex chars)."""
    digest = hmac.new(_KEY_ID_SALT, customer_key.encode(), hashlib.sha256).hexdigest()
    return digest[:24]


class Slot(NamedTuple):
    """One booking: whether it was made, the wait for it, the pacer's own ``token`` for the
    slot (what ``confirm`` names it by) and ``at``, this process's monotonic clock when the
    answer came (so the slot falls at ``at + wait`` however late its caller reads it)."""

    booked: bool
    wait: float
    token: Any = None
    at: float = 0.0

    @property
    def due(self) -> float:
        return self.at + self.wait


class Pacer:
    """Books request slots per key; subclasses implement `_book` and `_confirm` atomically."""

    def __init__(
        self,
        *,
        margin_ratio: float = 0.02,
        margin_s: float = 0.025,
        sleep: Callable[[float], Any] = time.sleep,
    ) -> None:
        self.margin_ratio = margin_ratio
        self.margin_s = margin_s
        self._sleep = sleep

    def padded(self, interval_s: float) -> float:
        """The interval plus the safety margin against clock skew and network jitter."""
        if interval_s <= 0:
            return 0.0
        return interval_s * (1 + self.margin_ratio) + self.margin_s

    def book(self, key_id: str, interval_s: float, max_wait_s: float | None = None) -> Slot:
        """Book key_id's next slot (only if at most max_wait_s away, when given)."""
        return self._slot(self._book(key_id, self.padded(interval_s), max_wait_s))

    def book_many(self, bookings: list[tuple[str, float]]) -> list[Slot]:
        """``book`` for several (key_id, interval_s) at once, in order."""
        padded = [(key_id, self.padded(interval), None) for key_id, interval in bookings]
        return [self._slot(answer) for answer in self._book_many(padded)]

    def confirm(self, key_id: str, slot: Slot, interval_s: float) -> Slot:
        """A slot about to be used late: kept, moved to now, when no one has booked key_id
        since (wait 0); otherwise the next free slot after theirs."""
        return self._slot(self._confirm(key_id, slot.token, self.padded(interval_s)))

    def reserve(self, key_id: str, interval_s: float) -> float:
        """Book the next slot for key_id; return the seconds to wait until it (0 if now)."""
        return self.book(key_id, interval_s).wait

    def try_reserve(self, key_id: str, interval_s: float, max_wait_s: float) -> tuple[bool, float]:
        """Book only if the slot is at most max_wait_s away; return (booked, wait_s)."""
        slot = self.book(key_id, interval_s, max_wait_s)
        return slot.booked, slot.wait

    @staticmethod
    def _slot(answer: tuple[bool, float, Any]) -> Slot:
        return Slot(*answer, at=time.monotonic())

    def acquire(self, key_id: str, interval_s: float) -> float:
        """Book the next slot and sleep until it; return the seconds slept."""
        wait = self.reserve(key_id, interval_s)
        if wait > 0:
            self._sleep(wait)
        return wait

    def _book(
        self, key_id: str, interval_s: float, max_wait_s: float | None
    ) -> tuple[bool, float, Any]:
        """(booked, wait, token) for the next slot, interval_s being padded already."""
        raise NotImplementedError

    def _book_many(
        self, bookings: list[tuple[str, float, float | None]]
    ) -> list[tuple[bool, float, Any]]:
        """``_book`` for each (key_id, interval_s, max_wait_s), in order."""
        return [self._book(*booking) for booking in bookings]

    def _confirm(self, key_id: str, token: Any, interval_s: float) -> tuple[bool, float, Any]:
        raise NotImplementedError


class NullPacer(Pacer):
    """Never waits (for Local/Service mode, or tests that want to hit the throttle)."""

    def padded(self, interval_s: float) -> float:
        return 0.0

    def _book(
        self, key_id: str, interval_s: float, max_wait_s: float | None
    ) -> tuple[bool, float, Any]:
        return True, 0.0, None

    def _confirm(self, key_id: str, token: Any, interval_s: float) -> tuple[bool, float, Any]:
        return True, 0.0, None


class LocalPacer(Pacer):
    """In-process, thread-safe pacer on the monotonic clock."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._clock = clock
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}

    def _book(
        self, key_id: str, interval_s: float, max_wait_s: float | None
    ) -> tuple[bool, float, Any]:
        with self._lock:
            now = self._clock()
            last = self._last.get(key_id)
            slot = now if last is None else max(now, last + interval_s)
            wait = slot - now
            if max_wait_s is not None and wait > max_wait_s:
                return False, wait, None
            self._last[key_id] = slot
            return True, wait, slot

    def _confirm(self, key_id: str, token: Any, interval_s: float) -> tuple[bool, float, Any]:
        with self._lock:
            now = self._clock()
            last = self._last.get(key_id)
            slot = now if last is None or last == token else max(now, last + interval_s)
            self._last[key_id] = slot
            return True, slot - now, slot


# KEYS[i] = a pace key; ARGV[2i-1], ARGV[2i] = its interval_us, max_wait_us (-1: unlimited).
# Returns {booked 0/1, wait_us, slot_us} for each key in turn (slot_us: the slot's Redis time,
# for tests/diagnostics). One round trip books many keys (one Redis; a cluster would need them
# in one hash slot). Redis TIME is the clock so every process agrees; integers are
# microseconds, formatted with %d because Lua's default number-to-string loses precision above
# 14 digits.
_BOOK_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local out = {}
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i - 1])
  local max_wait = tonumber(ARGV[2 * i])
  local last = tonumber(redis.call('GET', key) or '')
  local slot = now
  if last and last + interval > now then slot = last + interval end
  local wait = slot - now
  local booked = 0
  if max_wait < 0 or wait <= max_wait then
    booked = 1
    local ttl_ms = math.ceil((wait + interval) / 1000) + 1000
    redis.call('SET', key, string.format('%d', slot), 'PX', ttl_ms)
  end
  out[3 * i - 2], out[3 * i - 1], out[3 * i] = booked, wait, slot
end
return out
"""

# KEYS[1] = a pace key; ARGV = the caller's slot_us (its token), interval_us. The key's last
# slot moves to now if it is still the caller's (or gone), else the caller books after it.
# Returns {1, wait_us, slot_us}.
_CONFIRM_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local mine = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local last = tonumber(redis.call('GET', KEYS[1]) or '')
local slot = now
if last and last ~= mine and last + interval > now then slot = last + interval end
local ttl_ms = math.ceil((slot - now + interval) / 1000) + 1000
redis.call('SET', KEYS[1], string.format('%d', slot), 'PX', ttl_ms)
return {1, slot - now, slot}
"""


class RedisPacer(Pacer):
    """Pacer shared by every process using one Redis; one Lua script call per booking (or
    per ``reserve_many``)."""

    OUTAGE_WAIT_S = 60.0

    def __init__(self, redis_client: Any, prefix: str = "odportal:pace:", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.redis = redis_client
        self.prefix = prefix
        self._script = redis_client.register_script(_BOOK_LUA)
        self._confirm_script = redis_client.register_script(_CONFIRM_LUA)
        import redis  # the client's own package: only deployments with Redis have it

        self._redis_errors = (redis.ConnectionError, redis.TimeoutError)

    def _book(
        self, key_id: str, interval_s: float, max_wait_s: float | None
    ) -> tuple[bool, float, Any]:
        return self._book_many([(key_id, interval_s, max_wait_s)])[0]

    def _book_many(
        self, bookings: list[tuple[str, float, float | None]]
    ) -> list[tuple[bool, float, Any]]:
        if not bookings:
            return []
        args: list[int] = []
        for _key_id, interval_s, max_wait_s in bookings:
            max_wait_us = -1 if max_wait_s is None else math.floor(max_wait_s * 1_000_000)
            args += [math.ceil(interval_s * 1_000_000), max_wait_us]
        keys = [self.prefix + key_id for key_id, _, _ in bookings]
        return self._answers(self._call(self._script, keys, args))

    def _confirm(self, key_id: str, token: Any, interval_s: float) -> tuple[bool, float, Any]:
        args = [-1 if token is None else int(token), math.ceil(interval_s * 1_000_000)]
        return self._answers(self._call(self._confirm_script, [self.prefix + key_id], args))[0]

    @staticmethod
    def _answers(out: list[int]) -> list[tuple[bool, float, Any]]:
        """The scripts' flat {booked, wait_us, slot_us, ...} as (booked, wait_s, slot_us)."""
        return [
            (bool(out[i]), max(0, int(out[i + 1])) / 1_000_000, int(out[i + 2]))
            for i in range(0, len(out), 3)
        ]

    def _call(self, script: Any, keys: list[str], args: list[int]) -> Any:
        """The booking script; while Redis is unreachable, retried for up to
        ``OUTAGE_WAIT_S`` (no slot can be booked anywhere meanwhile), then the error."""
        deadline = time.monotonic() + self.OUTAGE_WAIT_S
        delay = 0.2
        while True:
            try:
                return script(keys=keys, args=args)
            except self._redis_errors as exc:
                if time.monotonic() + delay > deadline:
                    raise
                logger.warning("pacer: Redis unavailable (%s), retrying", type(exc).__name__)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def __repr__(self) -> str:
        return f"RedisPacer(prefix={self.prefix!r})"


_default_pacer: LocalPacer | None = None
_default_lock = threading.Lock()


def default_pacer() -> LocalPacer:
    """The process-wide LocalPacer used by clients that are given no pacer."""
    global _default_pacer
    with _default_lock:
        if _default_pacer is None:
            _default_pacer = LocalPacer()
        return _default_pacer


def pacer_from_url(redis_url: str | None, **kwargs: Any) -> Pacer:
    """A RedisPacer for a redis:// URL, else the process-wide LocalPacer."""
    if not redis_url:
        return default_pacer() if not kwargs else LocalPacer(**kwargs)
    import redis  # imported lazily: only deployments with Redis need it

    return RedisPacer(redis.Redis.from_url(redis_url), **kwargs)
