"""Sending deliveries: email through Django's backend, a signed JSON webhook over a guarded
connection; each attempt logged on its row, failures retried with backoff, then shown on the
channel. A failing channel never touches polling or the incident.

The webhook is signed like Stripe's and Standard Webhooks': ``X-Odportal-Timestamp`` (Unix
seconds) and ``X-Odportal-Signature: sha256=<hex HMAC-SHA256 over "<timestamp>.<body>">`` with
the channel's secret, so a receiver can reject both forgeries and replays.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from django.conf import settings
from django.core.mail import send_mail
from django.db.models import F, Q
from django.utils import timezone

from integrations.accounts.models import Membership
from integrations.alerts.models import (
    CAUSE_LABELS,
    OTHER_WHO_ACTS,
    Channel,
    ChannelKind,
    Delivery,
    DeliveryEvent,
    DeliveryState,
)
from integrations.alerts.services import chat
from integrations.offices.selectors.offices import who_acts
from integrations.opendental import network
from odportal.celery import app
from odportal.lib import crypto

logger = logging.getLogger(__name__)

DELIVER_TASK = "alerts.deliver"
MAX_ATTEMPTS = 5
REQUEUE_AFTER = timedelta(minutes=10)  # a queued delivery not attempted by then lost its message
WEBHOOK_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
ERROR_LIMIT = 500


class DeliveryFailed(Exception):
    """The channel did not take the message (the text says why; no secret in it)."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


@dataclass(frozen=True)
class Sent:
    status_code: int | None
    response_ms: int


def deliveries_send_due(*, now: datetime, limit: int = 1000) -> int:
    """Send a task for each pending delivery that is due (quiet hours over, backoff passed,
    its incident not muted), and again for one whose message was lost."""
    due = (
        Delivery.objects.filter(state=DeliveryState.PENDING, not_before__lte=now)
        .filter(Q(queued_at__isnull=True) | Q(queued_at__lt=now - REQUEUE_AFTER))
        .exclude(incident__muted_until__gt=now)
    )
    ids = list(due.order_by("not_before").values_list("pk", flat=True)[:limit])
    Delivery.objects.filter(pk__in=ids).update(queued_at=now)
    for pk in ids:
        delivery_send(pk)
    return len(ids)


def delivery_send(delivery_id: int, countdown: float | None = None) -> None:
    """Hand one delivery to a worker (by name: tasks import this module, not the reverse)."""
    try:
        app.send_task(DELIVER_TASK, args=[delivery_id], countdown=countdown)
    except Exception:  # noqa: BLE001 - broker away: the next evaluation re-sends it
        logger.warning("could not queue delivery %s", delivery_id, exc_info=True)


def delivery_attempt(delivery_id: int, *, now: datetime | None = None) -> float | None:
    """Try one delivery; the seconds until its retry when it failed and may retry, else None."""
    now = now or timezone.now()
    delivery = (
        Delivery.objects.select_related("channel__account", "incident__office")
        .filter(pk=delivery_id, state=DeliveryState.PENDING).first()
    )  # fmt: skip
    if delivery is None or not _claim(delivery):
        return None
    try:
        sent = _send(delivery, now)
    except DeliveryFailed as exc:
        return _failed(delivery, exc, now)
    Delivery.objects.filter(pk=delivery.pk).update(
        state=DeliveryState.SENT, sent_at=timezone.now(), status_code=sent.status_code,
        response_ms=sent.response_ms, error="",
    )  # fmt: skip
    Channel.objects.filter(pk=delivery.channel_id).update(last_error="", last_error_at=None)
    return None


def _claim(delivery: Delivery) -> bool:
    """This attempt, once: a duplicated message finds the attempt count already moved on."""
    claimed = Delivery.objects.filter(
        pk=delivery.pk, state=DeliveryState.PENDING, attempts=delivery.attempts
    ).update(attempts=F("attempts") + 1)
    delivery.attempts += 1
    return claimed == 1


def _failed(delivery: Delivery, exc: DeliveryFailed, now: datetime) -> float | None:
    error = str(exc)[:ERROR_LIMIT]
    Channel.objects.filter(pk=delivery.channel_id).update(last_error=error, last_error_at=now)
    retry = delivery.attempts < MAX_ATTEMPTS and delivery.event != DeliveryEvent.TEST
    backoff = min(3600.0, 30.0 * 2 ** (delivery.attempts - 1)) if retry else None
    Delivery.objects.filter(pk=delivery.pk).update(
        state=DeliveryState.PENDING if retry else DeliveryState.FAILED,
        error=error, status_code=exc.status_code, queued_at=now,
        not_before=now + timedelta(seconds=backoff or 0),
    )  # fmt: skip
    return backoff


def _send(delivery: Delivery, now: datetime) -> Sent:
    payload = message_payload(delivery)
    if delivery.channel.kind == ChannelKind.EMAIL:
        return _send_email(delivery.channel, payload)
    if delivery.channel.kind == ChannelKind.CHAT:
        return _send_chat(delivery.channel, payload)
    return _send_webhook(delivery.channel, payload, now)


def _send_chat(channel: Channel, payload: dict[str, Any]) -> Sent:
    title, body = email_text(payload)
    started = time.monotonic()
    error = chat.chat_send(crypto.decrypt(channel.secret_encrypted), title=title, body=body)
    if error:
        raise DeliveryFailed(f"Chat message not sent: {error}")
    return Sent(None, int((time.monotonic() - started) * 1000))


def message_payload(delivery: Delivery) -> dict[str, Any]:
    """The message as JSON (the webhook's body; the email says the same in words)."""
    incident = delivery.incident
    if incident is None:
        return {"event": "test", "account": delivery.channel.account.company_name,
                "text": "A test message from odportal: this channel works."}  # fmt: skip
    office = incident.office
    return {
        "event": f"incident.{delivery.event}",
        "incident": str(incident.public_id),
        "account": delivery.channel.account.company_name,
        # None for the deployment's own incident.
        "office": office
        and {"id": str(office.public_id), "name": office.name, "reference": office.reference},
        "source": incident.source,
        "cause": incident.cause,
        "cause_label": CAUSE_LABELS.get(incident.cause, incident.cause),
        "detail": incident.detail,
        "who_must_act": OTHER_WHO_ACTS.get(incident.cause)
        or who_acts(incident.cause, _current_key_status(office)),
        "first_seen": incident.first_seen.isoformat(),
        "last_seen": incident.last_seen.isoformat(),
        "failed_polls": incident.count,
        "resolved_at": incident.resolved_at.isoformat() if incident.resolved_at else None,
        "resolved_after_minutes": incident.duration_minutes,
    }


def _send_email(channel: Channel, payload: dict[str, Any]) -> Sent:
    recipients = email_recipients(channel)
    if not recipients:
        raise DeliveryFailed("No recipients: add addresses, or give the members email addresses.")
    subject, body = email_text(payload)
    started = time.monotonic()
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)
    except (OSError, ValueError) as exc:  # smtplib's errors are OSErrors
        raise DeliveryFailed(f"Email not sent: {type(exc).__name__}: {exc}") from None
    return Sent(None, int((time.monotonic() - started) * 1000))


def email_recipients(channel: Channel) -> list[str]:
    """The channel's addresses, or (none given) every member of the account with one."""
    listed = [a.strip() for a in channel.target.split(",") if a.strip()]
    if listed:
        return listed
    members = Membership.objects.filter(account_id=channel.account_id).exclude(user__email="")
    return sorted(set(members.values_list("user__email", flat=True)))


def email_text(payload: dict[str, Any]) -> tuple[str, str]:
    """Subject and plain-text body of one message."""
    if payload["event"] == "test":
        return "[odportal] Test message", payload["text"]
    office = payload["office"]["name"] if payload["office"] else "odportal"
    # The deployment's own incident names no office: its cause says it all.
    about = f"{office} ({payload['cause_label']})" if payload["office"] else payload["cause_label"]
    if payload["event"] == "incident.resolved":
        minutes = payload["resolved_after_minutes"]
        subject = f"[odportal] Resolved: {about}"
        lines = [f"{office} is OK again, resolved after {minutes} minutes."]
    else:
        subject = f"[odportal] {payload['cause_label']}" + (
            f": {office}" if payload["office"] else ""
        )
        lines = [f"{office}: {payload['cause_label']} since {payload['first_seen']}",
                 *([payload["detail"]] if payload["detail"] else []),
                 *([f"Failed polls: {payload['failed_polls']}"]
                   if payload["source"] == "office_status" else []),
                 f"Who must act: {payload['who_must_act']}"]  # fmt: skip
    return subject, "\n".join([*lines, f"Account: {payload['account']}", ""])


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of ``"<timestamp>." + body`` under the channel's secret."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def _guard() -> network.NetworkGuard:
    return network.NetworkGuard.from_strings(settings.ODPORTAL_ALLOWED_NETWORKS)


def _send_webhook(channel: Channel, payload: dict[str, Any], now: datetime) -> Sent:
    body = json.dumps(payload, separators=(",", ":")).encode()
    timestamp = str(int(now.timestamp()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "odportal-webhook/1",
        "X-Odportal-Timestamp": timestamp,
        "X-Odportal-Signature": webhook_signature(
            crypto.decrypt(channel.secret_encrypted), timestamp, body
        ),
    }
    transport = network.GuardedTransport(_guard(), limits=httpx.Limits(max_connections=1))
    started = time.monotonic()
    try:
        with httpx.Client(transport=transport, timeout=WEBHOOK_TIMEOUT) as client:
            response = client.post(channel.target, content=body, headers=headers)
    except httpx.HTTPError as exc:
        refused = network.refusal(exc)
        reason = f"refused: {refused}" if refused else f"{type(exc).__name__}: {exc}"
        raise DeliveryFailed(f"Webhook not delivered ({reason})") from None
    elapsed = int((time.monotonic() - started) * 1000)
    if not response.is_success:
        raise DeliveryFailed(f"Webhook answered HTTP {response.status_code}", response.status_code)
    return Sent(response.status_code, elapsed)


def _current_key_status(office) -> str | None:
    """The office's current key status: who must act on a disabled key depends on who
    disabled it (the office, HQ or the vendor)."""
    if office is None:
        return None
    return office.keys.filter(is_current=True).values_list("status", flat=True).first()
