"""'Test this key': GET /securityperms and the version preference right away, instead of
waiting for the next sweep. Runs in the web request, as the console does (same deadline and
pacing); nothing is written, the next health check records the office's state."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from django.conf import settings

from integrations.offices.models import Office
from integrations.offices.services.clients import NoKey, office_client
from integrations.opendental import OpenDentalError, SecurityPerm
from integrations.opendental.preferences import PREF_VERSION


@dataclass
class KeyTest:
    """What the office's current key can do, or why it failed."""

    perms: list[SecurityPerm] = field(default_factory=list)
    version: str | None = None
    error: str = ""
    status: int | None = None
    elapsed_ms: int = 0

    @property
    def granted(self) -> list[str]:
        return [p.permission for p in self.perms if p.has_permission]


def key_test(*, office: Office) -> KeyTest:
    """Try the office's current key: its permissions and Open Dental's program version."""
    result = KeyTest()
    started = time.monotonic()
    try:
        client = office_client(
            office=office, max_pace_wait_s=settings.CONSOLE_MAX_PACE_WAIT_S,
            deadline_s=settings.CONSOLE_DEADLINE_S,
        ).without_retries()  # fmt: skip
        result.perms = client.security_perms()
        result.version = client.preference(PREF_VERSION)
    except NoKey as exc:
        result.error = str(exc)
    except OpenDentalError as exc:
        result.error, result.status = exc.message, exc.status
    result.elapsed_ms = round((time.monotonic() - started) * 1000)
    return result
