"""Celery tasks of the API tools: thin, each calls one service."""

from __future__ import annotations

from celery import shared_task

from integrations.apitools.services import deadman, events, forwarding
from odportal.lib.tasks import DB_ERRORS, PERIODIC_TASK


@shared_task(name="apitools.events_purge", **PERIODIC_TASK)
def events_purge_task() -> int:
    """Drop received API Events past their retention, in batches."""
    return events.event_batches_purge()


@shared_task(name="apitools.events_deadman", **PERIODIC_TASK)
def events_deadman_task() -> int:
    """Mark the inboxes whose API Events stopped (the dead-man switch)."""
    return deadman.event_inboxes_deadman()


@shared_task(
    name=forwarding.FORWARD_TASK, acks_late=True,
    autoretry_for=(forwarding.ForwardFailed, *DB_ERRORS),
    retry_backoff=5, retry_backoff_max=600, max_retries=8,
)  # fmt: skip
def events_forward_task(batch_id: int) -> bool:
    """Forward one received batch to the vendor's endpoint (retried while it fails)."""
    return forwarding.event_batch_forward(batch_id)
