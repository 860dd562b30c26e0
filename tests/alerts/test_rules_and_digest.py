"""Rules per channel (which causes, immediate or digest only) and the daily digest email per
account, over a real SMTP server on loopback with a frozen clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from integrations.alerts.models import AlertSettings, Channel, Digest, Incident
from integrations.alerts.services import channels
from integrations.alerts.services.digest import digests_send
from integrations.offices.models import Office, OfficeStatus, PortalKey, PortalSync
from tests.alerts.test_notifications import cycle

NOW = datetime(2026, 3, 4, 17, 0, tzinfo=UTC)  # Wednesday, 11:00 in Chicago


@pytest.fixture
def two(account, owner, smtp):
    """A support address that wants only rejected keys, and an ops address that gets all."""
    support, _ = channels.channel_create(
        account=account, actor=owner, kind="email", name="Support", target="support@vendor.example"
    )
    ops, _ = channels.channel_create(account=account, actor=owner, kind="email", name="Ops",
                                     target="ops@vendor.example")  # fmt: skip
    channels.channel_rules_set(channel=support, actor=owner, causes=["key_rejected"],
                               digest_only=[])  # fmt: skip
    return smtp, support, ops


def _to(mailbox) -> list[str]:
    return sorted(m["X-Rcpt-To"] for m in mailbox.messages)


def test_a_channel_gets_only_the_causes_it_asked_for(two, failing):
    mailbox, _, _ = two
    failing(status=OfficeStatus.ECONNECTOR_DOWN)
    cycle(NOW)
    assert _to(mailbox) == ["ops@vendor.example"]
    failing(status=OfficeStatus.KEY_REJECTED)
    cycle(NOW + timedelta(minutes=1))
    assert _to(mailbox) == ["ops@vendor.example", "ops@vendor.example", "support@vendor.example"]


def test_digest_only_causes_send_no_message_of_their_own(two, failing, owner):
    mailbox, _, ops = two
    channels.channel_rules_set(channel=ops, actor=owner, causes=[],
                               digest_only=["econnector_down"])  # fmt: skip
    failing(status=OfficeStatus.ECONNECTOR_DOWN)
    cycle(NOW)
    assert not mailbox.messages and Incident.objects.filter(resolved_at__isnull=True).count() == 1


def test_the_resolution_goes_where_the_opening_went(two, failing, owner):
    mailbox, support, _ = two
    office = failing(status=OfficeStatus.KEY_REJECTED)
    cycle(NOW)
    assert _to(mailbox) == ["ops@vendor.example", "support@vendor.example"]
    # The rules change while it is open: Support no longer wants rejected keys.
    channels.channel_rules_set(channel=support, actor=owner, causes=["no_key"], digest_only=[])
    Office.objects.filter(pk=office.pk).update(status=OfficeStatus.OK, consecutive_failures=0)
    cycle(NOW + timedelta(minutes=5))
    resolved = sorted(m["X-Rcpt-To"] for m in mailbox.messages[2:])
    assert resolved == ["ops@vendor.example", "support@vendor.example"]


def test_rules_with_an_unknown_cause_are_refused_and_nothing_changes(two, owner):
    _, support, _ = two
    with pytest.raises(Exception, match="Unknown cause: ok"):
        channels.channel_rules_set(channel=support, actor=owner, causes=["ok"], digest_only=[])
    support.refresh_from_db()
    assert support.causes == ["key_rejected"]


def test_owner_sets_rules_from_the_page_others_cannot(two, owner_client, client, teammate,
                                                     outsider):  # fmt: skip
    _, support, _ = two
    url = reverse("alert_channel_rules", args=[support.public_id])
    prefix = f"rules-{support.pk}"
    data = {f"{prefix}-causes": ["econnector_down", "events_stopped"],
            f"{prefix}-digest_only": ["events_stopped"]}  # fmt: skip
    response = owner_client.post(url, data)
    assert response.status_code == 302
    support.refresh_from_db()
    assert support.causes == ["econnector_down", "events_stopped"]
    assert support.digest_only == ["events_stopped"]
    page = owner_client.get(reverse("account_alerts", args=[support.account.public_id]))
    assert "Receives: eConnector down, API Events stopped · digest only: API Events stopped" in (
        page.content.decode()
    )
    owner_client.post(url, {f"{prefix}-causes": ["bogus"]})
    support.refresh_from_db()
    assert support.causes == ["econnector_down", "events_stopped"]  # kept
    for user, status in ((teammate, 403), (outsider, 404)):
        client.force_login(user)
        assert client.post(url, data).status_code == status


# --- the daily digest ------------------------------------------------------------------------


@pytest.fixture
def digest_at_8_chicago(account):
    return AlertSettings.objects.create(
        account=account, digest_hour=8, digest_time_zone="America/Chicago"
    )


def test_the_digest_lists_open_new_and_resolved_once_a_day(two, failing, digest_at_8_chicago):
    mailbox, _, _ = two
    at_8_chicago = datetime(2026, 3, 5, 14, 5, tzinfo=UTC)
    old = failing(status=OfficeStatus.KEY_REJECTED, status_since=at_8_chicago - timedelta(days=2))
    cycle(at_8_chicago - timedelta(days=2))  # open for two days
    gone = failing(status=OfficeStatus.ECONNECTOR_DOWN)
    cycle(at_8_chicago - timedelta(hours=5))
    Office.objects.filter(pk=gone.pk).update(status=OfficeStatus.OK, consecutive_failures=0)
    cycle(at_8_chicago - timedelta(hours=4))
    mailbox.messages.clear()
    at_7_chicago = datetime(2026, 3, 5, 13, 0, tzinfo=UTC)
    assert digests_send(now=at_7_chicago) == 0  # before its hour
    assert digests_send(now=at_8_chicago) == 1
    assert digests_send(now=at_8_chicago + timedelta(minutes=15)) == 0  # the task ran again
    assert len(mailbox.messages) == 1
    mail = mailbox.messages[0]
    assert mail["Subject"] == "[odportal] Daily digest 2026-03-05: 1 open incident"
    assert mail["X-Rcpt-To"] == "ops@vendor.example, support@vendor.example"
    body = mail.get_payload()
    assert "Open incidents: 1" in body and f"- {old.name}: Key rejected" in body
    assert "Resolved in the last day: 1" in body and f"- {gone.name}: eConnector down" in body
    assert "New in the last day: 1" in body  # the one that came and went
    assert "Keys billed while idle" not in body  # no inventory synced: not claimed
    assert Digest.objects.get().recipients == 2
    assert digests_send(now=at_8_chicago + timedelta(days=1)) == 1  # the next day
    assert Digest.objects.count() == 2


def test_the_digest_names_keys_billed_while_idle_once_the_inventory_is_synced(
    two, failing, digest_at_8_chicago, account
):
    mailbox, _, _ = two
    office = failing(status=OfficeStatus.KEY_REJECTED)
    Office.objects.filter(pk=office.pk).update(status_since=timezone.now() - timedelta(days=40))
    key = office.keys.get()
    PortalSync.objects.create(account=account, synced_at=timezone.now())
    PortalKey.objects.create(account=account, key_encrypted="x", last4=key.last4,
                             key_hash=key.key_hash, key_status="Enabled")  # fmt: skip
    assert digests_send(now=datetime(2026, 3, 5, 14, 5, tzinfo=UTC)) == 1
    body = mailbox.messages[-1].get_payload()
    assert "Keys billed while idle: 1" in body and f"…{key.last4} ({office.name}" in body


def test_a_failed_digest_is_retried_later_that_day_then_given_up(
    two, digest_at_8_chicago, settings
):
    mailbox, _, _ = two
    real_port = settings.EMAIL_PORT
    settings.EMAIL_PORT = 1  # nothing listens: refused
    at_8 = datetime(2026, 3, 5, 14, 5, tzinfo=UTC)
    assert digests_send(now=at_8) == 0
    digest = Digest.objects.get()
    assert digest.state == "failed" and "ConnectionRefusedError" in digest.error
    settings.EMAIL_PORT = real_port
    assert digests_send(now=at_8 + timedelta(minutes=15)) == 1
    assert len(mailbox.messages) == 1 and Digest.objects.get().attempts == 2


def test_no_digest_without_an_hour(two, account):
    AlertSettings.objects.create(account=account)
    assert digests_send(now=NOW) == 0 and not Digest.objects.exists()
    assert Channel.objects.count() == 2


def test_a_zone_unknown_to_this_machine_falls_back_to_utc(two, account):
    AlertSettings.objects.create(account=account, digest_hour=8, digest_time_zone="Nowhere/Else")
    assert digests_send(now=datetime(2026, 3, 5, 7, 59, tzinfo=UTC)) == 0
    assert digests_send(now=datetime(2026, 3, 5, 8, 0, tzinfo=UTC)) == 1
