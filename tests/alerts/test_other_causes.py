"""Incidents whose cause is not an office status: the API Events dead-man switch and the
deployment itself, announced over real SMTP and a real signed webhook on loopback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from integrations.alerts.models import (
    Incident,
    IncidentSource,
    OtherCause,
    Resolution,
)
from integrations.alerts.selectors import incident_groups
from integrations.alerts.services import channels
from integrations.alerts.services.causes import EVENTS_STOPPED_TEXT
from integrations.alerts.services.deployment import deployment_watch
from integrations.alerts.services.heartbeats import SWEEP, WORKER_PREFIX, heartbeat_write
from integrations.apitools.models import EventInbox
from integrations.apitools.services import events
from integrations.offices.models import OfficeStatus
from tests.alerts.test_notifications import cycle
from tests.factories import DeveloperAccountFactory, MembershipFactory, OfficeFactory

NOW = datetime(2026, 3, 4, 17, 0, tzinfo=UTC)


@pytest.fixture
def both(account, owner, smtp, receiver):
    channels.channel_create(account=account, actor=owner, kind="email", name="Support",
                            target="support@vendor.example")  # fmt: skip
    _, secret = channels.channel_create(
        account=account, actor=owner, kind="webhook", name="Ops", target=receiver.url
    )
    receiver.secret = secret
    return smtp, receiver


@pytest.fixture
def stopped_inbox(office):
    """An inbox whose subscriptions post every 60 s, marked stopped by the dead-man switch."""
    inbox = events.event_inbox_for_office(office)
    EventInbox.objects.filter(pk=inbox.pk).update(
        expected_every_s=60, watching_since=NOW - timedelta(hours=3),
        last_received_at=NOW - timedelta(hours=2), stopped_at=NOW - timedelta(minutes=5),
    )  # fmt: skip
    inbox.refresh_from_db()
    return inbox


def test_events_stopped_opens_one_incident_and_sends_email_and_signed_webhook(
    both, stopped_inbox, office
):
    mailbox, hook = both
    cycle(NOW)
    cycle(NOW + timedelta(minutes=1))  # still stopped: nothing new
    incident = Incident.objects.get()
    assert (incident.source, incident.cause, incident.office) == (
        IncidentSource.API_EVENTS,
        OtherCause.EVENTS_STOPPED,
        office,
    )
    assert incident.first_seen == NOW - timedelta(hours=2)  # the last delivery
    assert len(mailbox.messages) == 1 and len(hook.received) == 1
    assert mailbox.messages[0]["Subject"] == f"[odportal] API Events stopped: {office.name}"
    assert EVENTS_STOPPED_TEXT in mailbox.messages[0].get_payload()
    body = hook.received[0]["body"]
    assert hook.received[0]["verified"] and body["cause"] == "events_stopped"
    assert body["detail"] == EVENTS_STOPPED_TEXT and body["office"]["name"] == office.name


def test_deliveries_resumed_resolve_it_and_send_the_resolution(
    both, stopped_inbox, office, customer_key_for, client
):
    mailbox, hook = both
    cycle(NOW)
    key = customer_key_for(office)
    url = reverse("apitools_events_receive", args=[stopped_inbox.token])
    response = client.post(url, data=b'[{"PatNum": 1}]', content_type="application/json",
                           headers={"Authorization": key})  # fmt: skip
    assert response.status_code == 200
    cycle(NOW + timedelta(minutes=3))
    incident = Incident.objects.get()
    assert incident.resolved_at == NOW + timedelta(minutes=3)
    assert incident.resolution == Resolution.OK
    assert len(mailbox.messages) == 2 and len(hook.received) == 2
    assert mailbox.messages[1]["Subject"].startswith("[odportal] Resolved: " + office.name)
    assert hook.received[1]["body"]["event"] == "incident.resolved"


def test_events_stopped_and_a_problem_status_are_two_incidents_grouped_by_cause(
    both, stopped_inbox, office, owner
):
    office.status, office.consecutive_failures = OfficeStatus.ECONNECTOR_DOWN, 3
    office.save(update_fields=["status", "consecutive_failures"])
    cycle(NOW)
    assert Incident.objects.filter(resolved_at__isnull=True).count() == 2
    groups = {g.cause: g for g in incident_groups(owner, now=NOW)}
    assert set(groups) == {"econnector_down", "events_stopped"}
    assert groups["events_stopped"].label == "API Events stopped"
    assert not groups["events_stopped"].is_office_status
    # The office OK again resolves its status incident, not the API Events one.
    office.status, office.consecutive_failures = OfficeStatus.OK, 0
    office.save(update_fields=["status", "consecutive_failures"])
    cycle(NOW + timedelta(minutes=2))
    still = Incident.objects.get(resolved_at__isnull=True)
    assert still.cause == OtherCause.EVENTS_STOPPED


@pytest.fixture
def customer_key_for(owner):
    from integrations.offices.services import keys
    from tests.factories import random_key

    def add(office) -> str:
        plain = random_key()
        keys.customer_key_add(office=office, key=plain, actor=owner)
        return plain

    return add


# --- the deployment itself ------------------------------------------------------------------


def _alive(at: datetime) -> None:
    heartbeat_write(name=SWEEP, now=at)
    heartbeat_write(name=WORKER_PREFIX + "celery@a", now=at)


def test_a_stopped_sweep_opens_one_deployment_incident_per_account_sent_to_each(
    both, account, settings
):
    mailbox, hook = both
    other = DeveloperAccountFactory()
    owner_b = MembershipFactory(account=other).user
    owner_b.email = "owner-b@vendor-b.example"
    owner_b.save()
    channels.channel_create(account=other, actor=owner_b, kind="email", name="B", target="")
    settings.SWEEP_INTERVAL_S = 60
    _alive(NOW - timedelta(minutes=4))  # 4 minutes: more than 3 intervals
    heartbeat_write(name=WORKER_PREFIX + "celery@a", now=NOW)  # the worker is alive
    long_ago = NOW - timedelta(hours=1)
    deployment_watch(now=NOW, watching_since=long_ago)
    deployment_watch(now=NOW + timedelta(seconds=30), watching_since=long_ago)  # another watcher
    open_ = Incident.objects.filter(resolved_at__isnull=True, source=IncidentSource.DEPLOYMENT)
    assert sorted(open_.values_list("account_id", flat=True)) == sorted([account.pk, other.pk])
    assert all(i.office is None for i in open_)
    subjects = sorted(m["Subject"] for m in mailbox.messages)
    assert subjects == ["[odportal] odportal not running"] * 2  # one per account's channel
    assert {m["X-Rcpt-To"] for m in mailbox.messages} >= {"owner-b@vendor-b.example"}
    assert "the sweep has not run for 3 intervals" in mailbox.messages[0].get_payload()
    assert len(hook.received) == 1 and hook.received[0]["verified"]
    assert hook.received[0]["body"]["office"] is None
    assert hook.received[0]["body"]["cause"] == "deployment"

    _alive(NOW + timedelta(minutes=1))  # heartbeats are back
    deployment_watch(now=NOW + timedelta(minutes=1), watching_since=long_ago)
    assert not open_.all().exists()
    assert len(hook.received) == 2 and hook.received[1]["body"]["event"] == "incident.resolved"
    assert len(mailbox.messages) == 4
    assert mailbox.messages[-1]["Subject"] == "[odportal] Resolved: odportal not running"


def test_no_worker_alive_opens_it_even_with_a_recent_sweep(account, settings):
    settings.SWEEP_INTERVAL_S = 60
    heartbeat_write(name=SWEEP, now=NOW)
    heartbeat_write(name=WORKER_PREFIX + "celery@a", now=NOW - timedelta(minutes=10))
    deployment_watch(now=NOW, watching_since=NOW - timedelta(hours=1))
    incident = Incident.objects.get(source=IncidentSource.DEPLOYMENT)
    assert "no worker is alive" in incident.detail and incident.account == account


def test_a_watcher_that_just_started_waits_three_intervals(account, settings):
    settings.SWEEP_INTERVAL_S = 60
    deployment_watch(now=NOW, watching_since=NOW - timedelta(minutes=2))  # nothing seen yet
    assert not Incident.objects.exists()
    deployment_watch(now=NOW, watching_since=NOW - timedelta(minutes=3))
    assert Incident.objects.filter(source=IncidentSource.DEPLOYMENT).count() == 1


def test_the_deployment_incident_shows_first_on_the_incident_page(owner_client, account, owner):
    failing = OfficeFactory(account=account, status=OfficeStatus.KEY_REJECTED,
                            consecutive_failures=5)  # fmt: skip
    cycle(NOW)
    deployment_watch(now=NOW, watching_since=NOW - timedelta(hours=1))
    groups = incident_groups(owner, now=NOW)
    assert [g.cause for g in groups] == ["deployment", "key_rejected"]
    body = owner_client.get(reverse("incident_list")).content.decode()
    assert "odportal itself" in body and "odportal not running" in body and failing.name in body
