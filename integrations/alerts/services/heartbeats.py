"""odportal's own health: the sweep's and each worker's last sign of life, and the broker's
queue depth as the watchers last measured it (pages read the row, never the broker)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from kombu.exceptions import ChannelError

from integrations.alerts.models import Heartbeat
from odportal.celery import app

logger = logging.getLogger(__name__)

SWEEP = "sweep"
WORKER_PREFIX = "worker:"
QUEUE = "queue"
# Missing this many sweep intervals means the beat (or every worker) has stopped.
MISSED_INTERVALS = 3


def heartbeat_write(*, name: str, now: datetime, value: int | None = None) -> None:
    """Record a sign of life (an upsert on the name)."""
    Heartbeat.objects.update_or_create(name=name, defaults={"at": now, "value": value})


def queue_depth_measure() -> int | None:
    """Messages waiting in the default queue (Redis: the list's length; the filesystem
    broker: its message files), or None when the broker cannot say."""
    queue = app.conf.task_default_queue
    try:
        with app.connection_for_read() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            try:
                return conn.default_channel.queue_declare(queue=queue, passive=True).message_count
            except ChannelError:
                return 0  # Redis drops an empty list: no key is an empty queue
    except Exception:  # noqa: BLE001 - any broker failure is "unknown", never a page error
        logger.warning("queue depth not measured", exc_info=True)
        return None


def queue_depth_record(*, now: datetime) -> int | None:
    """Measure the queue depth and keep it for the pages (the ``queue`` row)."""
    depth = queue_depth_measure()
    heartbeat_write(name=QUEUE, now=now, value=depth)
    return depth


def worker_heartbeat_remove(*, hostname: str) -> None:
    """A worker that shut down cleanly is gone at once, not after the timeout."""
    Heartbeat.objects.filter(name=WORKER_PREFIX + hostname).delete()


@dataclass(frozen=True)
class SystemHealth:
    last_sweep_at: datetime | None
    workers_alive: int
    sweep_late: bool
    # None: never measured, or the broker could not say (the page shows "unknown").
    queue_depth: int | None = None
    queue_measured_at: datetime | None = None

    @property
    def degraded(self) -> bool:
        return self.sweep_late or self.workers_alive == 0


def system_health(*, now: datetime) -> SystemHealth:
    """Last sweep, live workers (heartbeat within 3 intervals) and whether either is missing."""
    window = timedelta(seconds=settings.SWEEP_INTERVAL_S * MISSED_INTERVALS)
    found = {name: (at, value) for name, at, value in Heartbeat.objects.values_list(
        "name", "at", "value")}  # fmt: skip
    rows = {name: at for name, (at, _) in found.items()}
    last_sweep = rows.get(SWEEP)
    workers = sum(1 for n, at in rows.items() if n.startswith(WORKER_PREFIX) and at >= now - window)
    late = last_sweep is None or last_sweep < now - window
    queue_at, depth = found.get(QUEUE, (None, None))
    if queue_at is None or queue_at < now - window:
        depth = None  # no watcher measured it lately: unknown, not an old number
    return SystemHealth(last_sweep_at=last_sweep, workers_alive=workers, sweep_late=late,
                        queue_depth=depth, queue_measured_at=queue_at)  # fmt: skip
