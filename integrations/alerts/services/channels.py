"""Channels: created and removed by owners, each with a "Send test"; secrets encrypted."""

from __future__ import annotations

import secrets
from datetime import datetime
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from integrations.accounts.models import DeveloperAccount
from integrations.accounts.services.audit import audit_record
from integrations.alerts.models import (
    INCIDENT_CAUSES,
    Channel,
    ChannelKind,
    Delivery,
    DeliveryEvent,
)
from integrations.alerts.services import deliveries
from integrations.alerts.services.chat import chat_url_problem
from integrations.opendental import network
from odportal.lib import crypto


def webhook_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a webhook target, or None; the host must resolve to an address
    the deployment allows (public, or listed in ODPORTAL_ALLOWED_NETWORKS)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return "The URL must start with https:// (or http://)."
    if "@" in parts.netloc or any(c.isspace() for c in url):
        return "The URL must not contain a user name, password or spaces."
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return "The URL has an invalid port."
    guard = network.NetworkGuard.from_strings(settings.ODPORTAL_ALLOWED_NETWORKS)
    try:
        guard.addresses(parts.hostname or "", port)
    except network.AddressNotAllowed as exc:
        return (f"Webhooks may not go to {parts.hostname} ({exc}): loopback and private "
                "networks need ODPORTAL_ALLOWED_NETWORKS.")  # fmt: skip
    except OSError:
        return f"The host {parts.hostname!r} does not resolve."
    return None


def _clean_target(kind: str, target: str) -> str:
    target = target.strip()
    if kind == ChannelKind.WEBHOOK:
        problem = webhook_url_problem(target)
        if problem:
            raise ValidationError({"target": problem})
        return target
    addresses = [a.strip() for a in target.split(",") if a.strip()]
    for address in addresses:
        try:
            validate_email(address)
        except ValidationError:
            raise ValidationError({"target": f"Not an email address: {address!r}."}) from None
    return ", ".join(addresses)


@transaction.atomic
def channel_create(
    *, account: DeveloperAccount, actor, kind: str, name: str, target: str
) -> tuple[Channel, str]:
    """A new channel, and (webhooks) its signing secret, returned this once in full."""
    if kind == ChannelKind.CHAT:
        return _chat_create(account=account, actor=actor, name=name, url=target.strip()), ""
    channel = Channel(account=account, kind=kind, name=name.strip(),
                      target=_clean_target(kind, target))  # fmt: skip
    secret = ""
    if kind == ChannelKind.WEBHOOK:
        secret = "whsec_" + secrets.token_urlsafe(32)
        channel.secret_encrypted, channel.secret_last4 = crypto.encrypt(secret), secret[-4:]
    channel.full_clean()
    channel.save()
    audit_record(account=account, actor=actor, action="alert_channel.create", obj=channel,
                 detail={"kind": kind, "name": channel.name})  # fmt: skip
    return channel, secret


def _chat_create(*, account: DeveloperAccount, actor, name: str, url: str) -> Channel:
    problem = chat_url_problem(url)
    if problem:
        raise ValidationError({"target": problem})
    channel = Channel(account=account, kind=ChannelKind.CHAT, name=name.strip(),
                      target=url.split("://", 1)[0].lower() + "://",
                      secret_encrypted=crypto.encrypt(url), secret_last4=url[-4:])  # fmt: skip
    channel.full_clean()
    channel.save()
    audit_record(account=account, actor=actor, action="alert_channel.create", obj=channel,
                 detail={"kind": channel.kind, "name": channel.name})  # fmt: skip
    return channel


@transaction.atomic
def channel_rules_set(
    *, channel: Channel, actor, causes: list[str], digest_only: list[str]
) -> Channel:
    """Which causes the channel receives (none chosen: all) and which of them wait for the
    daily digest instead of a message of their own."""
    known = {c for c, _ in INCIDENT_CAUSES}
    for field, values in (("causes", causes), ("digest_only", digest_only)):
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValidationError({field: f"Unknown cause: {', '.join(unknown)}."})
    channel.causes, channel.digest_only = sorted(set(causes)), sorted(set(digest_only))
    channel.save(update_fields=["causes", "digest_only"])
    audit_record(account=channel.account, actor=actor, action="alert_channel.rules", obj=channel,
                 detail={"causes": channel.causes, "digest_only": channel.digest_only})  # fmt: skip
    return channel


@transaction.atomic
def channel_delete(*, channel: Channel, actor) -> None:
    """Remove a channel and its delivery log."""
    audit_record(account=channel.account, actor=actor, action="alert_channel.delete",
                 obj=channel, detail={"kind": channel.kind, "name": channel.name})  # fmt: skip
    channel.delete()


def channel_test(*, channel: Channel, actor, now: datetime) -> Delivery:
    """Queue a test message to the channel; its result shows in the delivery log."""
    delivery = Delivery.objects.create(
        channel=channel, event=DeliveryEvent.TEST, created_at=now, not_before=now, queued_at=now
    )
    transaction.on_commit(lambda: deliveries.delivery_send(delivery.pk))
    return delivery
