"""Celery tasks of the alerts app: thin, each calls one service."""

from __future__ import annotations

import logging

from celery import shared_task
from django.utils import timezone

from integrations.alerts.services import deliveries, digest, heartbeats, incidents, notifications
from odportal.lib.tasks import PERIODIC_TASK

logger = logging.getLogger(__name__)

EVALUATE_TASK = "alerts.evaluate"


@shared_task(name=EVALUATE_TASK, **PERIODIC_TASK)
def evaluate_task(swept_at: str | None = None) -> dict[str, int]:
    """After a sweep: record it, update incidents, plan and send their messages."""
    now = timezone.now()
    heartbeats.heartbeat_write(name=heartbeats.SWEEP, now=now)
    result = incidents.incidents_evaluate(now=now)
    planned = notifications.notifications_plan(now=now)
    result["sent"] = deliveries.deliveries_send_due(now=now)
    logger.info("alerts evaluated %s, planned %s", result, planned)
    return result


@shared_task(name=deliveries.DELIVER_TASK, **PERIODIC_TASK)
def deliver_task(delivery_id: int) -> None:
    """Try one delivery; on failure it comes back after its backoff."""
    retry_in = deliveries.delivery_attempt(delivery_id)
    if retry_in is not None:
        deliveries.delivery_send(delivery_id, countdown=retry_in)


@shared_task(name="alerts.digest", **PERIODIC_TASK)
def digest_task() -> int:
    """Send the daily digests whose hour has come (each account once a day)."""
    return digest.digests_send(now=timezone.now())
