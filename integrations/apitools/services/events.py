"""API Events: each office's receiving URL, the check and storage of what Open Dental POSTs,
and the retention purge.

A POST is answered once its batch is stored: one INSERT of the rows as JSON, well within the
time a workstation waits (the sandbox's 5 s; Open Dental does not retry), and nothing that could
be lost sits in a queue. A wrong or missing key is counted on the inbox, never stored.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from integrations.apitools.models import EventBatch, EventInbox
from integrations.apitools.services.console import table_of
from integrations.apitools.services.forwarding import event_batch_forward_later
from integrations.offices.models import CustomerKey, Office
from odportal.lib import crypto


def event_inbox_for_office(office: Office) -> EventInbox:
    """The office's inbox (its unguessable receiving token), made on first use."""
    inbox, _ = EventInbox.objects.get_or_create(office=office)
    return inbox


def event_receiving_url(inbox: EventInbox) -> str:
    """Where Open Dental posts the office's events: ODPORTAL_PUBLIC_URL plus the token path
    ("" when the public address is not set)."""
    if not settings.ODPORTAL_PUBLIC_URL:
        return ""
    return settings.ODPORTAL_PUBLIC_URL + reverse("apitools_events_receive", args=[inbox.token])


def event_inbox_by_token(token: str) -> EventInbox | None:
    """The inbox a receiving URL names, with its office."""
    return EventInbox.objects.select_related("office").filter(token=token).first()


def event_authorized(inbox: EventInbox, authorization: str) -> bool:
    """Whether the Authorization header is the office's current customer key (the bare key,
    as Open Dental sends it), compared in constant time through the keys' keyed hashes."""
    stored = CustomerKey.objects.filter(office_id=inbox.office_id, is_current=True).values_list(
        "key_hash", flat=True
    )
    expected = next(iter(stored), "")
    given = crypto.key_hashes(authorization.strip() or "-")
    matches = [hmac.compare_digest(h.encode(), expected.encode()) for h in given]
    return bool(expected) and any(matches)


def event_rejected(inbox: EventInbox) -> None:
    """Count a POST refused for its key (never stored)."""
    EventInbox.objects.filter(pk=inbox.pk).update(
        rejected=F("rejected") + 1, last_rejected_at=timezone.now()
    )


@dataclass(frozen=True)
class Received:
    batch: EventBatch
    created: bool


def event_batch_store(
    *, inbox: EventInbox, rows: list[Any], body: bytes, workstation: str, event_type: str
) -> Received:
    """Store one batch; the same body within EVENTS_REPLAY_WINDOW_S is stored once."""
    digest = hashlib.sha256(body).hexdigest()
    now = timezone.now()
    since = now - timedelta(seconds=settings.EVENTS_REPLAY_WINDOW_S)
    with transaction.atomic():
        earlier = EventBatch.objects.filter(
            office_id=inbox.office_id, body_sha256=digest, received_at__gte=since
        ).first()
        if earlier is not None:
            return Received(earlier, False)
        batch = EventBatch.objects.create(
            office_id=inbox.office_id, received_at=now, workstation=workstation[:200],
            event_type=event_type[:200], table=_table_of(event_type), body_sha256=digest,
            row_count=len(rows), rows=rows, columns=table_of(rows)[0],
        )  # fmt: skip
        # A delivery also clears the dead-man switch.
        EventInbox.objects.filter(pk=inbox.pk).update(last_received_at=now, stopped_at=None)
        if inbox.forward_url:
            transaction.on_commit(lambda: event_batch_forward_later(batch))
    return Received(batch, True)


def _table_of(event_type: str) -> str:
    """ "Appointment" of "WatchTable: Appointment"; "" for UI events."""
    kind, _, name = event_type.partition(":")
    return name.strip()[:100] if kind.strip().lower() == "watchtable" else ""


def event_batches_purge(*, now=None) -> int:
    """Delete batches past EVENTS_RETENTION_DAYS, EVENTS_PURGE_BATCH at a time."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.EVENTS_RETENTION_DAYS)
    deleted = 0
    while True:
        ids = list(
            EventBatch.objects.filter(received_at__lt=cutoff).values_list("pk", flat=True)[
                : settings.EVENTS_PURGE_BATCH
            ]
        )
        if not ids:
            return deleted
        deleted += EventBatch.objects.filter(pk__in=ids).delete()[0]
