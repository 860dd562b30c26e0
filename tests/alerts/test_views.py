"""The alerts pages, tried by owner, teammate (viewer) and outsider."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from integrations.alerts.models import Channel, Incident
from integrations.alerts.services.incidents import incidents_evaluate
from integrations.offices.models import Office, OfficeStatus


@pytest.fixture
def incident(failing):
    failing(failures=2)
    incidents_evaluate(now=timezone.now())
    return Incident.objects.get()


def test_300_offices_with_one_cause_are_one_group(owner_client, account, failing):
    Office.objects.bulk_create(
        [Office(account=account, name=f"Down {i}", status=OfficeStatus.ECONNECTOR_DOWN,
                consecutive_failures=2) for i in range(300)]
    )  # fmt: skip
    failing(status=OfficeStatus.KEY_REJECTED)
    incidents_evaluate(now=timezone.now())
    old = Incident.objects.filter(cause="econnector_down").values_list("pk", flat=True)[:100]
    Incident.objects.filter(pk__in=list(old)).update(opened_at=timezone.now() - timedelta(days=2))
    response = owner_client.get(reverse("incident_list"), headers={"HX-Request": "true"})
    groups = response.context["groups"]
    assert [(g.cause, g.count, g.new_today) for g in groups] == [
        ("key_rejected", 1, 1), ("econnector_down", 300, 200)
    ]  # fmt: skip
    body = response.content.decode()
    assert "<html" not in body and "301 open incidents" in body and "200 new" in body
    assert "restart the eConnector" in body


def test_the_overview_loads_the_incident_panel(owner_client, incident):
    body = owner_client.get("/").content.decode()
    assert f'hx-get="{reverse("incident_list")}"' in body
    assert 'hx-trigger="load, every 30s, refresh-page"' in body


def test_the_overview_and_office_list_refresh_themselves(owner_client):
    overview = owner_client.get("/").content.decode()
    assert 'hx-select="#status-counts"' in overview and overview.count("data-refresh") == 2
    listing = owner_client.get(reverse("office_list"), {"status": "ok"}).content.decode()
    assert 'hx-get="/offices/?status=ok" hx-trigger="every 30s, refresh-page"' in listing
    assert "js/refresh.js" in listing


def test_incidents_are_the_users_accounts_only(client, outsider, incident):
    client.force_login(outsider)
    assert client.get(reverse("incident_list")).context["groups"] == []
    url = reverse("incident_acknowledge", args=[incident.public_id])
    assert client.post(url).status_code == 404


def test_owner_acknowledges_and_mutes_a_viewer_may_not(client, owner, teammate, incident):
    ack = reverse("incident_acknowledge", args=[incident.public_id])
    mute = reverse("incident_mute", args=[incident.public_id])
    client.force_login(teammate)
    assert client.post(ack).status_code == 403
    assert client.post(mute, {"hours": 4}).status_code == 403
    client.force_login(owner)
    assert client.post(ack).status_code == 302
    assert client.post(mute, {"hours": 4}).status_code == 302
    incident.refresh_from_db()
    assert incident.acknowledged_by == owner and incident.muted_by == owner
    assert incident.muted_until > timezone.now() + timedelta(hours=3)
    page = client.get(reverse("incident_list")).content.decode()
    assert "Acknowledged by owner" in page and "Muted until" in page


def test_owner_adds_a_webhook_and_sees_its_secret_once(owner_client, account, receiver):
    url = reverse("alert_channel_add", args=[account.public_id])
    response = owner_client.post(url, {"kind": "webhook", "name": "Ops", "target": receiver.url})
    secret = response.context["new_secret"]
    assert secret in response.content.decode()
    page = owner_client.get(reverse("account_alerts", args=[account.public_id])).content.decode()
    channel = Channel.objects.get()
    assert secret not in page and f"••••{channel.secret_last4}" in page
    assert secret not in channel.secret_encrypted


@pytest.mark.parametrize(
    "target, message",
    [
        ("file:///etc/passwd", "must start with https://"),
        ("http://127.0.0.1:8080/hook", "loopback and private networks"),
        ("http://10.1.2.3/hook", "loopback and private networks"),
        ("http://user:pw@example.com/hook", "user name, password"),
    ],
)
def test_webhook_urls_to_files_loopback_or_private_networks_are_refused(
    owner_client, account, settings, target, message
):
    settings.ODPORTAL_ALLOWED_NETWORKS = []
    url = reverse("alert_channel_add", args=[account.public_id])
    response = owner_client.post(url, {"kind": "webhook", "name": "Ops", "target": target})
    assert response.status_code == 400 and message in response.content.decode()
    assert not Channel.objects.exists()


def test_email_addresses_are_validated(owner_client, account):
    url = reverse("alert_channel_add", args=[account.public_id])
    response = owner_client.post(url, {"kind": "email", "name": "S", "target": "a@b.example, nope"})
    assert response.status_code == 400 and "Not an email address" in response.content.decode()


def test_only_owners_manage_channels_and_policy(client, teammate, outsider, account):
    add = reverse("alert_channel_add", args=[account.public_id])
    page = reverse("account_alerts", args=[account.public_id])
    client.force_login(teammate)
    assert client.get(page).status_code == 200
    assert client.post(add, {"kind": "email", "name": "S"}).status_code == 403
    assert client.post(page, {"grace_polls": 3, "repeat_hours": 6}).status_code == 403
    client.force_login(outsider)
    assert client.get(page).status_code == 404


def test_owner_sets_grace_and_quiet_hours(owner_client, account):
    page = reverse("account_alerts", args=[account.public_id])
    response = owner_client.post(page, {"grace_polls": 3, "repeat_hours": 6, "quiet_start": "19:00",
                                        "quiet_end": "07:00", "quiet_days": ["6"]})  # fmt: skip
    assert response.status_code == 302
    policy = account.alert_settings
    assert (policy.grace_polls, policy.quiet_days, str(policy.quiet_start)) == (3, [6], "19:00:00")
    half = owner_client.post(page, {"grace_polls": 2, "repeat_hours": 6, "quiet_start": "19:00"})
    assert half.status_code == 400 and "both ends" in half.content.decode()


def test_owner_sets_the_digest_hour_and_zone_and_a_bad_zone_keeps_what_was_typed(
    owner_client, account
):
    page = reverse("account_alerts", args=[account.public_id])
    base = {"grace_polls": 2, "repeat_hours": 6}
    bad = owner_client.post(page, {**base, "digest_hour": 8, "digest_time_zone": "Mars/Olympus"})
    assert bad.status_code == 400 and "Not a time zone" in bad.content.decode()
    assert 'value="Mars/Olympus"' in bad.content.decode()
    late = owner_client.post(page, {**base, "digest_hour": 24})
    assert late.status_code == 400 and "0 to 23" in late.content.decode()
    ok = owner_client.post(page, {**base, "digest_hour": 8, "digest_time_zone": "America/Chicago",
                                  "aging_drift_pct": 25})  # fmt: skip
    assert ok.status_code == 302
    policy = account.alert_settings
    assert (policy.digest_hour, policy.digest_time_zone, policy.aging_drift_pct) == (
        8,
        "America/Chicago",
        25,
    )
