"""odportal's own incident: when the sweep has not run for 3 intervals or no worker is alive,
every account gets an incident for the deployment (no office), sent to its channels; it
resolves when the heartbeats are back.

The ``alerts.evaluate`` task cannot notice this (it is what stopped), so the watchers run it:
a thread in each worker (catches a stopped beat) and one in the beat (catches stopped
workers), every ``WORKER_HEARTBEAT_S``. They send the deployment's messages themselves rather
than through a worker, which may be what is missing. With both the beat and every worker
stopped nothing watches: the banner on every page is then the only sign.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import QuerySet

from integrations.accounts.models import DeveloperAccount
from integrations.alerts.models import (
    Delivery,
    DeliveryState,
    Incident,
    IncidentSource,
    OtherCause,
    Resolution,
)
from integrations.alerts.services import deliveries, heartbeats, notifications

logger = logging.getLogger(__name__)


def _open() -> QuerySet[Incident]:
    return Incident.objects.filter(resolved_at__isnull=True, source=IncidentSource.DEPLOYMENT)


def deployment_problem(health: heartbeats.SystemHealth) -> str:
    """What is wrong with the deployment, in words ("" when nothing)."""
    parts = []
    if not health.workers_alive:
        parts.append("no worker is alive, so no office is polled")
    if health.sweep_late:
        since = health.last_sweep_at.isoformat() if health.last_sweep_at else "never"
        parts.append(f"the sweep has not run for 3 intervals (last: {since})")
    return "; ".join(parts)


def deployment_watch(*, now: datetime, watching_since: datetime) -> dict[str, int]:
    """Record the queue depth, open or resolve the deployment's incidents, plan and send their
    messages. A watcher that just started waits 3 sweep intervals before it opens one: the
    other processes of a deployment that is starting need that long to show up."""
    heartbeats.queue_depth_record(now=now)
    health = heartbeats.system_health(now=now)
    window = timedelta(seconds=settings.SWEEP_INTERVAL_S * heartbeats.MISSED_INTERVALS)
    opened = resolved = 0
    if health.degraded and now - watching_since >= window:
        opened = _incidents_open(now, health)
    elif not health.degraded:
        resolved = _open().update(resolved_at=now, resolution=Resolution.OK, last_seen=now)
    sent = 0
    if opened or resolved or _open().exists() or _unsent().exists():
        notifications.notifications_plan(now=now)
        sent = _send_now(now)
    return {"opened": opened, "resolved": resolved, "sent": sent}


def _incidents_open(now: datetime, health: heartbeats.SystemHealth) -> int:
    text = deployment_problem(health)[:300]
    _open().update(last_seen=now, detail=text)
    accounts = DeveloperAccount.objects.exclude(pk__in=_open().values("account_id"))
    new = [
        Incident(account_id=pk, source=IncidentSource.DEPLOYMENT, cause=OtherCause.DEPLOYMENT,
                 first_seen=health.last_sweep_at or now, last_seen=now, opened_at=now,
                 detail=text)
        for pk in accounts.values_list("pk", flat=True)
    ]  # fmt: skip
    # Several watchers at once: the one-open-per-account constraint keeps one.
    Incident.objects.bulk_create(new, ignore_conflicts=True)
    return len(new)


def _unsent() -> QuerySet[Delivery]:
    return Delivery.objects.filter(
        incident__source=IncidentSource.DEPLOYMENT, state=DeliveryState.PENDING
    )


def _send_now(now: datetime) -> int:
    """Attempt the deployment's due deliveries here (each attempt is claimed, so two watchers
    never send one twice)."""
    due = (
        _unsent().filter(not_before__lte=now).exclude(incident__muted_until__gt=now)
        .values_list("pk", flat=True)
    )  # fmt: skip
    sent = 0
    for pk in list(due[:200]):
        deliveries.delivery_attempt(pk, now=now)
        sent += 1
    return sent
