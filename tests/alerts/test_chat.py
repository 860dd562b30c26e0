"""Chat channels through Apprise: its generic JSON service against the loopback receiver."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError

from integrations.alerts.models import Channel, Delivery, DeliveryState
from integrations.alerts.services import channels
from integrations.alerts.services.deliveries import delivery_attempt
from tests.alerts.test_notifications import cycle

NOW = datetime(2026, 3, 4, 17, 0, tzinfo=UTC)


def _apprise_url(receiver) -> str:
    return receiver.url.replace("http://", "json://", 1)


def test_an_incident_reaches_the_chat_service(account, owner, receiver, failing):
    channel, _ = channels.channel_create(account=account, actor=owner, kind="chat", name="Chat",
                                         target=_apprise_url(receiver))  # fmt: skip
    assert channel.target == "json://" and _apprise_url(receiver) not in channel.secret_encrypted
    office = failing(failures=2)
    cycle(NOW)
    assert len(receiver.received) == 1
    message = receiver.received[0]["body"]
    assert message["title"] == f"[odportal] eConnector down: {office.name}"
    assert "restart the eConnector" in message["message"]
    assert Delivery.objects.get().state == DeliveryState.SENT


def test_a_chat_service_that_fails_shows_why(account, owner, receiver):
    channel, _ = channels.channel_create(account=account, actor=owner, kind="chat", name="Chat",
                                         target=_apprise_url(receiver))  # fmt: skip
    receiver.status = 500
    delivery = channels.channel_test(channel=channel, actor=owner, now=NOW)
    delivery_attempt(delivery.pk, now=NOW)
    channel.refresh_from_db()
    assert channel.last_error.startswith("Chat message not sent")
    assert Delivery.objects.get().state == DeliveryState.FAILED  # a test is not retried


@pytest.mark.parametrize(
    "url, message",
    [
        ("mailto://user:pw@example.com", "Use an Apprise URL of one of"),
        ("slack://", "Apprise cannot read this URL"),
        ("json://10.0.0.5/hook", "ODPORTAL_ALLOWED_NETWORKS"),
    ],
)
def test_chat_urls_outside_the_known_services_or_to_private_hosts_are_refused(
    account, owner, settings, url, message
):
    settings.ODPORTAL_ALLOWED_NETWORKS = []
    with pytest.raises(ValidationError, match=message):
        channels.channel_create(account=account, actor=owner, kind="chat", name="C", target=url)
    assert not Channel.objects.exists()
