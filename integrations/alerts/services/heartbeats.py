"""odportal's own health: the sweep's and each worker's last sign of life."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings

from integrations.alerts.models import Heartbeat

SWEEP = "sweep"
WORKER_PREFIX = "worker:"
# Missing this many sweep intervals means the beat (or every worker) has stopped.
MISSED_INTERVALS = 3


def heartbeat_write(*, name: str, now: datetime) -> None:
    """Record a sign of life (an upsert on the name)."""
    Heartbeat.objects.update_or_create(name=name, defaults={"at": now})


def worker_heartbeat_remove(*, hostname: str) -> None:
    """A worker that shut down cleanly is gone at once, not after the timeout."""
    Heartbeat.objects.filter(name=WORKER_PREFIX + hostname).delete()


@dataclass(frozen=True)
class SystemHealth:
    last_sweep_at: datetime | None
    workers_alive: int
    sweep_late: bool

    @property
    def degraded(self) -> bool:
        return self.sweep_late or self.workers_alive == 0


def system_health(*, now: datetime) -> SystemHealth:
    """Last sweep, live workers (heartbeat within 3 intervals) and whether either is missing."""
    window = timedelta(seconds=settings.SWEEP_INTERVAL_S * MISSED_INTERVALS)
    rows = dict(Heartbeat.objects.values_list("name", "at"))
    last_sweep = rows.get(SWEEP)
    workers = sum(1 for n, at in rows.items() if n.startswith(WORKER_PREFIX) and at >= now - window)
    late = last_sweep is None or last_sweep < now - window
    return SystemHealth(last_sweep_at=last_sweep, workers_alive=workers, sweep_late=late)
