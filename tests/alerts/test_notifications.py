"""Messages: one on opening, one on resolution, per channel, over real SMTP and a real HTTP
receiver on loopback; quiet hours, the repeat cap and failing channels (a frozen clock)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from integrations.alerts.models import AlertSettings, Delivery, DeliveryState, Incident
from integrations.alerts.services import channels
from integrations.alerts.services.deliveries import (
    deliveries_send_due,
    delivery_attempt,
)
from integrations.alerts.services.incidents import incident_mute, incidents_evaluate
from integrations.alerts.services.notifications import notifications_plan
from integrations.offices.models import Office, OfficeStatus

NOW = datetime(2026, 3, 4, 17, 0, tzinfo=UTC)  # Wednesday, 11:00 in Chicago


def cycle(now: datetime) -> None:
    """What the ``alerts.evaluate`` task does, with its deliveries run here, not on a worker."""
    incidents_evaluate(now=now)
    notifications_plan(now=now)
    deliveries_send_due(now=now)
    for pk in Delivery.objects.filter(state=DeliveryState.PENDING, queued_at=now).values_list(
        "pk", flat=True
    ):
        delivery_attempt(pk, now=now)


@pytest.fixture
def both(account, owner, smtp, receiver):
    """An email channel and a webhook channel on the account."""
    channels.channel_create(account=account, actor=owner, kind="email", name="Support",
                            target="support@vendor.example")  # fmt: skip
    hook, secret = channels.channel_create(
        account=account, actor=owner, kind="webhook", name="Ops", target=receiver.url
    )
    receiver.secret = secret
    return smtp, receiver


def test_opening_sends_one_email_and_one_signed_webhook(both, failing):
    mailbox, hook = both
    office = failing(failures=2)
    cycle(NOW)
    assert len(mailbox.messages) == 1 and len(hook.received) == 1
    mail = mailbox.messages[0]
    assert mail["Subject"] == f"[odportal] eConnector down: {office.name}"
    assert mail["X-Rcpt-To"] == "support@vendor.example"
    assert "restart the eConnector" in mail.get_payload()
    call = hook.received[0]
    assert call["verified"] and call["body"]["event"] == "incident.opened"
    assert call["body"]["office"]["name"] == office.name and call["body"]["failed_polls"] == 2
    assert call["headers"]["X-Odportal-Timestamp"] == str(int(NOW.timestamp()))
    sent = Delivery.objects.filter(state=DeliveryState.SENT)
    assert sent.count() == 2 and sent.filter(status_code=200, response_ms__isnull=False).exists()


def test_a_second_fault_while_open_sends_nothing_new(both, failing):
    mailbox, hook = both
    office = failing(failures=2)
    cycle(NOW)
    Office.objects.filter(pk=office.pk).update(
        status=OfficeStatus.TIMED_OUT, consecutive_failures=4
    )
    cycle(NOW + timedelta(minutes=5))
    assert len(mailbox.messages) == 1 and len(hook.received) == 1


def test_resolution_is_sent_once_with_its_duration(both, failing):
    mailbox, hook = both
    office = failing(failures=2, status_since=NOW - timedelta(minutes=10))
    cycle(NOW)
    Office.objects.filter(pk=office.pk).update(status=OfficeStatus.OK, consecutive_failures=0)
    cycle(NOW + timedelta(minutes=20))
    cycle(NOW + timedelta(minutes=25))
    assert len(mailbox.messages) == 2 and len(hook.received) == 2
    assert mailbox.messages[1]["Subject"].startswith("[odportal] Resolved:")
    assert "resolved after 30 minutes" in mailbox.messages[1].get_payload()
    assert hook.received[1]["body"]["resolved_after_minutes"] == 30 and hook.received[1]["verified"]


def test_quiet_hours_hold_the_message_until_the_office_opens(both, failing, account):
    mailbox, hook = both
    AlertSettings.objects.create(account=account, quiet_start=time(19), quiet_end=time(7))
    failing(failures=2, time_zone="America/Chicago")
    night = datetime(2026, 3, 4, 8, 0, tzinfo=UTC)  # 02:00 in Chicago
    cycle(night)
    assert Incident.objects.filter(resolved_at__isnull=True).count() == 1  # it still opens
    assert not mailbox.messages and not hook.received
    held = Delivery.objects.filter(state=DeliveryState.PENDING)
    assert {d.not_before for d in held} == {datetime(2026, 3, 4, 13, 0, tzinfo=UTC)}  # 07:00
    cycle(datetime(2026, 3, 4, 12, 59, tzinfo=UTC))
    assert not mailbox.messages
    cycle(datetime(2026, 3, 4, 13, 0, tzinfo=UTC))
    assert len(mailbox.messages) == 1 and len(hook.received) == 1


def test_a_problem_gone_during_quiet_hours_is_never_announced(both, failing, account):
    mailbox, hook = both
    AlertSettings.objects.create(account=account, quiet_start=time(19), quiet_end=time(7))
    office = failing(failures=2, time_zone="America/Chicago")
    cycle(datetime(2026, 3, 4, 8, 0, tzinfo=UTC))
    Office.objects.filter(pk=office.pk).update(status=OfficeStatus.OK, consecutive_failures=0)
    cycle(datetime(2026, 3, 4, 9, 0, tzinfo=UTC))
    cycle(datetime(2026, 3, 4, 14, 0, tzinfo=UTC))
    assert not mailbox.messages and not hook.received
    assert set(Delivery.objects.values_list("state", flat=True)) == {DeliveryState.CANCELLED}


def test_a_flapping_office_is_announced_once_per_repeat_window(both, failing):
    mailbox, _ = both
    office = failing(failures=2)
    for minutes in (0, 30, 60):
        Office.objects.filter(pk=office.pk).update(
            status=OfficeStatus.ECONNECTOR_DOWN, consecutive_failures=2
        )
        cycle(NOW + timedelta(minutes=minutes))
        Office.objects.filter(pk=office.pk).update(status=OfficeStatus.OK, consecutive_failures=0)
        cycle(NOW + timedelta(minutes=minutes + 10))
    assert Incident.objects.count() == 3
    assert len(mailbox.messages) == 2  # the first opening and its resolution


def test_a_failing_webhook_retries_with_backoff_and_shows_its_error(both, failing):
    mailbox, hook = both
    hook.status = 503
    failing(failures=2)
    cycle(NOW)
    assert len(mailbox.messages) == 1  # the email channel is not held up
    delivery = Delivery.objects.get(channel__kind="webhook")
    assert delivery.state == DeliveryState.PENDING and delivery.attempts == 1
    assert delivery.not_before == NOW + timedelta(seconds=30) and delivery.status_code == 503
    assert "HTTP 503" in delivery.channel.last_error
    assert Incident.objects.filter(resolved_at__isnull=True).count() == 1
    hook.status = 200
    assert delivery_attempt(delivery.pk, now=NOW + timedelta(seconds=30)) is None
    delivery.refresh_from_db()
    delivery.channel.refresh_from_db()
    assert delivery.state == DeliveryState.SENT and delivery.channel.last_error == ""
    assert len(hook.received) == 2 and all(r["verified"] for r in hook.received)


def test_a_webhook_to_a_refused_address_fails_without_sending(account, owner, failing, settings):
    settings.ODPORTAL_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    hook, _ = channels.channel_create(account=account, actor=owner, kind="webhook", name="Ops",
                                      target="http://127.0.0.1:9/hook")  # fmt: skip
    settings.ODPORTAL_ALLOWED_NETWORKS = []  # the deployment stopped allowing loopback
    failing(failures=2)
    cycle(NOW)
    hook.refresh_from_db()
    assert "refused" in hook.last_error


def test_a_muted_incident_holds_its_messages(both, failing, owner):
    mailbox, _ = both
    failing(failures=2)
    incidents_evaluate(now=NOW)
    incident_mute(incident=Incident.objects.get(), actor=owner, hours=2, now=NOW)
    cycle(NOW)
    assert not mailbox.messages
    cycle(NOW + timedelta(hours=2))
    assert len(mailbox.messages) == 1


def test_send_test_reaches_each_channel(both, account, owner):
    mailbox, hook = both
    for channel in account.alert_channels.all():
        delivery = channels.channel_test(channel=channel, actor=owner, now=NOW)
        delivery_attempt(delivery.pk, now=NOW)
    assert mailbox.messages[0]["Subject"] == "[odportal] Test message"
    assert hook.received[0]["body"]["event"] == "test" and hook.received[0]["verified"]
