"""Optional forwarding of received API Events to the vendor's own endpoint, so odportal can sit
in front of it. Each stored batch is sent once by a task (retried with backoff while the
vendor's endpoint fails), through the deployment's network guard, signed:

    X-Odportal-Timestamp: <unix seconds>
    X-Odportal-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>." + body, keyed by the secret>

The receiver recomputes it with the secret shown when forwarding was set, and refuses old
timestamps (replays). The body is the batch's rows as JSON; Workstation and Event-Type are
passed on. Never the customer key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone

from integrations.accounts.services.audit import audit_record
from integrations.apitools.models import EventBatch, EventInbox
from integrations.offices.services.clients import network_guard
from integrations.opendental import shared_http_client
from odportal.celery import app
from odportal.lib import crypto

FORWARD_TASK = "apitools.events_forward"
FORWARD_TIMEOUT_S = 10.0


class ForwardFailed(Exception):
    """The vendor's endpoint did not take the batch (the task retries)."""


def forward_signature(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header's value for a body sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def event_forward_set(*, inbox: EventInbox, actor: Any, url: str) -> str:
    """Forward the inbox's batches to ``url`` ("" stops); returns the new signing secret."""
    if url and not url.startswith(("https://", "http://")):
        raise ValidationError({"forward_url": "An http(s) URL."})
    secret = secrets.token_urlsafe(32) if url else ""
    inbox.forward_url = url
    inbox.forward_secret_encrypted = crypto.encrypt(secret) if secret else ""
    inbox.full_clean(exclude=["office", "token"])
    inbox.save(update_fields=["forward_url", "forward_secret_encrypted"])
    audit_record(
        account=inbox.office.account, actor=actor, action="events.forward_set", obj=inbox.office,
        detail={"office": inbox.office.name, "forward_url": url},
    )  # fmt: skip
    return secret


def event_batch_forward_later(batch: EventBatch) -> None:
    """Send the forwarding task once the batch is committed."""
    app.send_task(FORWARD_TASK, args=[batch.pk], retry=False)


def event_batch_forward(batch_id: int) -> bool:
    """Post one stored batch to its inbox's forward URL; ForwardFailed to retry."""
    batch = EventBatch.objects.filter(pk=batch_id, forwarded_at__isnull=True).first()
    inbox = batch and EventInbox.objects.filter(office_id=batch.office_id).first()
    if batch is None or inbox is None or not inbox.forward_url:
        return False
    body = json.dumps(batch.rows, ensure_ascii=False).encode()
    stamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json", "Workstation": batch.workstation,
        "Event-Type": batch.event_type, "X-Odportal-Timestamp": stamp,
        "X-Odportal-Signature": forward_signature(
            crypto.decrypt(inbox.forward_secret_encrypted), stamp, body),
    }  # fmt: skip
    error = _post(inbox.forward_url, body, headers)
    EventBatch.objects.filter(pk=batch.pk).update(
        forward_attempts=batch.forward_attempts + 1, forward_error=error[:300],
        forwarded_at=None if error else timezone.now(),
    )  # fmt: skip
    if error:
        raise ForwardFailed(error)
    return True


def _post(url: str, body: bytes, headers: dict[str, str]) -> str:
    """ "" when the endpoint answered 2xx, else what went wrong (never its body)."""
    http = shared_http_client(network_guard())
    try:
        response = http.post(url, content=body, headers=headers, timeout=FORWARD_TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001 - any transport failure is a retry
        return f"could not deliver: {type(exc).__name__}"
    return "" if response.is_success else f"answered {response.status_code}"
