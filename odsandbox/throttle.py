"""Per-customer-key pacing, start-to-start, as Open Dental documents for the remote API."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

# Documented intervals (seconds between request starts) by permission tier.
READ_ALL_ONLY_INTERVAL = 5.0
PAID_INTERVAL = 1.0
ENTERPRISE_INTERVAL = 0.5


def base_interval(permissions: Iterable[str]) -> float:
    """The documented interval for a key holding ``permissions`` (before scaling)."""
    perms = set(permissions)
    if "ApiEnterprise" in perms:
        return ENTERPRISE_INTERVAL
    if perms - {"ApiReadAll"}:
        return PAID_INTERVAL
    return READ_ALL_ONLY_INTERVAL


@dataclass(frozen=True)
class Decision:
    """Outcome for one request: ``wait`` > 0 means it arrived ``wait`` seconds too early."""

    violation: bool
    wait: float


@dataclass
class Throttle:
    """Tracks the last admitted start per key; not thread-safe (used on the event loop only)."""

    clock: Callable[[], float] = time.monotonic
    _next_allowed: dict[str, float] = field(default_factory=dict)

    def admit(
        self, key: str, interval: float, *, queue: bool, now: float | None = None
    ) -> Decision:
        """Record a request start (``now``: its arrival); with ``queue`` a too-early request
        reserves the next slot."""
        if interval <= 0:
            return Decision(False, 0.0)
        now = self.clock() if now is None else now
        allowed = self._next_allowed.get(key, now)
        if now >= allowed:
            self._next_allowed[key] = now + interval
            return Decision(False, 0.0)
        if queue:
            self._next_allowed[key] = allowed + interval
        return Decision(True, allowed - now)

    def reset(self) -> None:
        """Forget all history (used by stats reset and tests)."""
        self._next_allowed.clear()
