"""Injectable per-office faults: what a flaky eConnector or gateway can do to a response."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, ClassVar

#: Faults that replace the response; ``times`` limits how many requests they hit.
RESPONSE_FAULTS: tuple[str, ...] = (
    "timeout",
    "status_500",
    "malformed_json",
    "truncated_json",
    "html_error",
    "status_429",
)


@dataclass
class Faults:
    """Current faults of one office. All off by default."""

    econnector_down: bool = False
    # The office's workstations are off (a weekend): API Events are not polled or sent.
    workstation_off: bool = False
    latency_ms: int = 0
    timeout: bool = False
    timeout_immediate: bool = False
    status_500: bool = False
    malformed_json: bool = False
    truncated_json: bool = False
    html_error: bool = False
    status_429: bool = False
    times: int | None = None  # None = until reset; n = next n requests, then response faults clear
    #: When econnector_down last went on (office clock); GET /computers freezes heartbeats there.
    econnector_down_since: ClassVar[datetime | None] = None

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "econnector_down" and value != getattr(self, name, False):
            since = datetime.now().replace(microsecond=0) if value else None
            object.__setattr__(self, "econnector_down_since", since)
        object.__setattr__(self, name, value)

    def update(self, changes: dict[str, Any]) -> None:
        """Apply a partial update; ``{"reset": true}`` clears everything first."""
        if changes.get("reset"):
            self.__init__()  # type: ignore[misc]
        names = {f.name for f in fields(self)}
        unknown = set(changes) - names - {"reset", "key_status"}
        if unknown:
            raise ValueError(f"unknown fault(s): {', '.join(sorted(unknown))}")
        for name, value in changes.items():
            if name in names:
                setattr(self, name, _coerce(name, value))

    def active_response_fault(self) -> str | None:
        """The response fault to apply to this request, consuming one of ``times``."""
        active = next((name for name in RESPONSE_FAULTS if getattr(self, name)), None)
        if active is None or self.times is None:
            return active
        self.times -= 1
        if self.times <= 0:
            for name in RESPONSE_FAULTS:
                setattr(self, name, False)
            self.times = None
        return active

    def as_dict(self) -> dict[str, Any]:
        """Current values, for the control API."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _coerce(name: str, value: Any) -> Any:
    """Validate a value's type for the named fault."""
    if name == "latency_ms":
        return max(0, int(value))
    if name == "times":
        return None if value is None else int(value)
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false")
    return value
