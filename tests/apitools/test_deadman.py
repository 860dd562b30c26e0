"""The API Events dead-man switch: silence past the cadence in opening hours marks the inbox
stopped; a delivery clears it. End to end with the sandbox's workstation switched off."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from django.urls import reverse
from django.utils import timezone

from integrations.alerts.models import Incident, OtherCause
from integrations.alerts.services.incidents import incidents_evaluate
from integrations.apitools.models import EventBatch, EventInbox
from integrations.apitools.services import deadman, events, subscriptions
from integrations.apitools.tasks import events_deadman_task

TUESDAY_NOON = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def watched(office, settings):
    settings.EVENTS_DEADMAN_MIN_S = 600
    settings.EVENTS_DEADMAN_FACTOR = 10
    settings.EVENTS_DEADMAN_HOURS = (8, 18)
    settings.EVENTS_DEADMAN_WEEKDAYS_ONLY = True
    office.time_zone = "UTC"
    office.save(update_fields=["time_zone"])
    inbox = events.event_inbox_for_office(office)
    inbox.expected_every_s = 120  # cadence: max(600, 10 x 120) = 1200 s
    inbox.watching_since = TUESDAY_NOON - timedelta(days=3)
    inbox.save()
    return inbox


@pytest.mark.parametrize(
    ("received_ago_s", "now", "silent"),
    [
        (1100, TUESDAY_NOON, False),  # within the cadence
        (1300, TUESDAY_NOON, True),
        (10**6, TUESDAY_NOON.replace(hour=8, minute=10), False),  # counted from the opening
        (10**6, TUESDAY_NOON.replace(hour=8, minute=30), True),
        (10**6, TUESDAY_NOON.replace(hour=19), False),  # closed
        (10**6, TUESDAY_NOON + timedelta(days=4), False),  # Saturday
    ],
)
def test_silence_counts_only_past_the_cadence_in_opening_hours(
    watched, received_ago_s, now, silent
):
    watched.last_received_at = now - timedelta(seconds=received_ago_s)
    assert deadman.event_inbox_is_silent(watched, now) is silent


def test_no_subscription_expected_never_trips(watched):
    watched.expected_every_s = 0
    assert not deadman.event_inbox_is_silent(watched, TUESDAY_NOON)


def test_sweep_marks_once_and_a_delivery_clears(watched, customer_key_for, client):
    watched.last_received_at = TUESDAY_NOON - timedelta(hours=2)
    watched.save()
    assert deadman.event_inboxes_deadman(now=TUESDAY_NOON) == 1
    assert deadman.event_inboxes_deadman(now=TUESDAY_NOON) == 0  # already marked
    watched.refresh_from_db()
    assert watched.stopped_at == TUESDAY_NOON
    key = customer_key_for(watched.office)
    url = reverse("apitools_events_receive", args=[watched.token])
    client.post(url, data=b'[{"n": 1}]', content_type="application/json",
                headers={"Authorization": key})  # fmt: skip
    watched.refresh_from_db()
    assert watched.stopped_at is None


@pytest.fixture
def customer_key_for(owner):
    from integrations.offices.services import keys
    from tests.factories import random_key

    def add(office) -> str:
        plain = random_key()
        keys.customer_key_add(office=office, key=plain, actor=owner)
        return plain

    return add


@pytest.mark.django_db(transaction=True)
def test_workstation_off_opens_the_deadman_after_the_cadence(
    live_server, sandbox, sandbox_account, sandbox_control, owner, client, settings
):
    office = sandbox_account["Spare Office"]
    key = office.manifest["customer_key"]
    settings.ODPORTAL_PUBLIC_URL = live_server.url
    settings.EVENTS_DEADMAN_MIN_S = 1
    settings.EVENTS_DEADMAN_FACTOR = 1
    settings.EVENTS_DEADMAN_HOURS = (0, 24)
    settings.EVENTS_DEADMAN_WEEKDAYS_ONLY = False
    client.force_login(owner)
    data = {"watch_table": "Patient", "polling_seconds": 1, "workstation": "FRONTDESK"}
    client.post(reverse("apitools_subscriptions", args=[office.public_id]), data)
    touch = f"{sandbox.control_url}/offices/{key}/touch"
    try:
        assert EventInbox.objects.get(office=office).expected_every_s == 1
        httpx.post(touch, json={"table": "patient", "count": 2}, timeout=10)
        _wait(lambda: EventBatch.objects.filter(office=office).exists())
        sandbox_control(key, workstation_off=True)
        httpx.post(touch, json={"table": "patient", "PKs": [3, 4]}, timeout=10)
        # Silence past the 1 s cadence trips it (a delivery still in flight only delays it).
        _wait(lambda: events_deadman_task() == 1)
        page = client.get(reverse("apitools_inbox", args=[office.public_id]))
        assert deadman.STOPPED_TEXT in page.content.decode()
        # The alerts' evaluation after the sweep makes it an incident, sent like any other.
        incidents_evaluate(now=timezone.now())
        incident = Incident.objects.get(office=office, resolved_at=None)
        assert incident.cause == OtherCause.EVENTS_STOPPED
        sandbox_control(key, workstation_off=False)  # back on: new changes arrive
        httpx.post(touch, json={"table": "patient", "PKs": [5, 6]}, timeout=10)
        _wait(lambda: EventInbox.objects.get(office=office).stopped_at is None)
        incidents_evaluate(now=timezone.now())
        incident.refresh_from_db()
        assert incident.resolved_at is not None
    finally:
        for sub in subscriptions.office_subscriptions(office):
            subscriptions.subscription_remove(office=office, actor=None,
                                              number=sub.subscription_num)  # fmt: skip
    assert EventInbox.objects.get(office=office).expected_every_s == 0


def _wait(condition, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)
