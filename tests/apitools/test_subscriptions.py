"""Subscriptions from the office page through Open Dental's API, and the end to end: the
sandbox's workstation POSTs to odportal's receiving URL (a live server) and the inbox shows it."""

from __future__ import annotations

import time

import httpx
import pytest
from django.urls import reverse

from integrations.accounts.models import AuditEvent
from integrations.apitools.models import EventBatch
from integrations.apitools.services import subscriptions


def _subs_url(office):
    return reverse("apitools_subscriptions", args=[office.public_id])


def _cleanup(office):
    for sub in subscriptions.office_subscriptions(office):
        subscriptions.subscription_remove(office=office, actor=None, number=sub.subscription_num)


def test_subscribing_needs_the_public_address(owner_client, sandbox_office, settings):
    settings.ODPORTAL_PUBLIC_URL = ""
    data = {"watch_table": "Patient", "polling_seconds": 60, "workstation": "FRONT"}
    response = owner_client.post(_subs_url(sandbox_office), data)
    assert "ODPORTAL_PUBLIC_URL" in str(response.context["form"].non_field_errors())


def test_subscribe_list_change_and_delete(owner_client, sandbox_office, settings):
    settings.ODPORTAL_PUBLIC_URL = "https://odportal.example.com"
    try:
        response = owner_client.post(
            _subs_url(sandbox_office), {"watch_table": "Provider", "polling_seconds": 3600},
            follow=True,
        )  # fmt: skip
        page = response.content.decode()
        assert "duplicates follow" in page  # blank workstation warned
        (sub,) = response.context["subscriptions"]
        assert sub.end_point_url.startswith("https://odportal.example.com/api-events/")
        assert (sub.watch_table, sub.polling_seconds) == ("Provider", 3600)
        assert "this inbox" in page
        num = sub.subscription_num
        update = reverse("apitools_subscription_update", args=[sandbox_office.public_id, num])
        changed = owner_client.post(update, {"polling_seconds": 120, "workstation": "WS2"},
                                    follow=True)  # fmt: skip
        (sub,) = changed.context["subscriptions"]
        assert (sub.polling_seconds, sub.workstation) == (120, "WS2")
        delete = reverse("apitools_subscription_delete", args=[sandbox_office.public_id, num])
        gone = owner_client.post(delete, follow=True)
        assert gone.context["subscriptions"] == []
        actions = set(AuditEvent.objects.values_list("action", flat=True))
        assert {"events.subscription_add", "events.subscription_change",
                "events.subscription_remove"} <= actions  # fmt: skip
    finally:
        _cleanup(sandbox_office)


def test_viewers_cannot_manage_subscriptions(client, teammate, office):
    client.force_login(teammate)
    assert client.get(reverse("apitools_subscriptions", args=[office.public_id])).status_code == 403


@pytest.mark.django_db(transaction=True)
def test_subscription_from_office_page_delivers_to_the_inbox(
    live_server, sandbox, sandbox_account, owner, client, settings
):
    office = sandbox_account["Spare Office"]
    settings.ODPORTAL_PUBLIC_URL = live_server.url
    client.force_login(owner)
    data = {"watch_table": "Patient", "polling_seconds": 1, "workstation": "FRONTDESK"}
    assert client.post(_subs_url(office), data).status_code == 302
    try:
        touch = f"{sandbox.control_url}/offices/{office.manifest['customer_key']}/touch"
        httpx.post(touch, json={"table": "patient", "count": 3}, timeout=10).raise_for_status()
        deadline = time.monotonic() + 30
        while not EventBatch.objects.filter(office=office).exists():
            assert time.monotonic() < deadline, "no API Events reached odportal"
            time.sleep(0.2)
    finally:
        _cleanup(office)
    batch = EventBatch.objects.filter(office=office).first()
    assert (batch.table, batch.workstation) == ("Patient", "FRONTDESK")
    assert batch.row_count >= 3 and all("PatNum" in row for row in batch.rows)
    inbox = client.get(reverse("apitools_inbox", args=[office.public_id]))
    assert batch in inbox.context["page"].object_list
    detail = client.get(reverse("apitools_batch", args=[office.public_id, batch.public_id]))
    assert f"<td>{batch.rows[0]['PatNum']}</td>" in detail.content.decode()
    # A wrong key at the same URL is refused and counted.
    url = live_server.url + reverse("apitools_events_receive", args=[office.event_inbox.token])
    assert httpx.post(url, content=b"[]", headers={"Authorization": "wrong"}).status_code == 401
    office.event_inbox.refresh_from_db()
    assert office.event_inbox.rejected == 1
