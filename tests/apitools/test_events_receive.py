"""The public receiving URL of API Events: key check, size, JSON, replays, storage."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from integrations.apitools.models import EventBatch, EventInbox
from integrations.apitools.services import events
from integrations.apitools.tasks import events_purge_task
from integrations.offices.services import keys
from tests.factories import random_key

ROWS = [{"AptNum": 1, "PatNum": 7, "Note": "=HYPERLINK(1)"}, {"AptNum": 2, "PatNum": 8, "Note": ""}]


@pytest.fixture
def customer_key(office, owner):
    plain = random_key()
    keys.customer_key_add(office=office, key=plain, actor=owner)
    return plain


@pytest.fixture
def inbox(office, customer_key):
    return events.event_inbox_for_office(office)


def _post(client, inbox, body, key, **headers):
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(
        reverse("apitools_events_receive", args=[inbox.token]), data=content,
        content_type="application/json",
        headers={"Authorization": key, "Workstation": "FRONTDESK",
                 "Event-Type": "WatchTable: Appointment", **headers},
    )  # fmt: skip


def test_batch_is_stored_with_its_headers(client, inbox, customer_key):
    response = _post(client, inbox, ROWS, customer_key)
    assert response.status_code == 200 and response.json() == {"stored": True, "rows": 2}
    batch = EventBatch.objects.get()
    assert (batch.table, batch.event_type, batch.workstation) == (
        "Appointment", "WatchTable: Appointment", "FRONTDESK")  # fmt: skip
    assert batch.rows == ROWS and batch.row_count == 2


@pytest.mark.parametrize("key", ["", "wrong-key-1234", "ODFHIR x/y"])
def test_wrong_or_missing_key_is_401_counted_never_stored(client, inbox, key):
    response = _post(client, inbox, ROWS, key)
    assert response.status_code == 401
    assert not EventBatch.objects.exists()
    inbox.refresh_from_db()
    assert inbox.rejected == 1 and inbox.last_rejected_at


def test_retired_key_is_refused(client, inbox, customer_key, office, owner):
    keys.customer_key_add(office=office, key=random_key(), actor=owner)
    assert _post(client, inbox, ROWS, customer_key).status_code == 401


def test_unknown_token_is_404(client, db):
    url = reverse("apitools_events_receive", args=["nope"])
    assert client.post(url, data=b"[]", content_type="application/json").status_code == 404


def test_oversized_body_is_413(client, inbox, customer_key, settings):
    settings.EVENTS_MAX_BODY_BYTES = 100
    response = _post(client, inbox, [{"Note": "x" * 200}], customer_key)
    assert response.status_code == 413
    assert not EventBatch.objects.exists()


@pytest.mark.parametrize("body", [b"{not json", b'"text"', b"12", "\xff".encode("latin-1")])
def test_malformed_body_is_400(client, inbox, customer_key, body):
    assert _post(client, inbox, body, customer_key).status_code == 400
    assert not EventBatch.objects.exists()


def test_replay_within_minutes_is_stored_once(client, inbox, customer_key):
    assert _post(client, inbox, ROWS, customer_key).json()["stored"] is True
    again = _post(client, inbox, ROWS, customer_key)
    assert again.status_code == 200 and again.json()["stored"] is False
    assert EventBatch.objects.count() == 1
    other = _post(client, inbox, ROWS[:1], customer_key)  # a different batch is kept
    assert other.json()["stored"] is True and EventBatch.objects.count() == 2


def test_replay_after_the_window_is_stored_again(client, inbox, customer_key, settings):
    _post(client, inbox, ROWS, customer_key)
    EventBatch.objects.update(received_at=timezone.now() - timedelta(hours=1))
    assert _post(client, inbox, ROWS, customer_key).json()["stored"] is True


def test_ui_event_object_is_one_row(client, inbox, customer_key):
    body = {"PatNum": 5}
    _post(client, inbox, body, customer_key, **{"Event-Type": "UiEventType: PatientSelected"})
    batch = EventBatch.objects.get()
    assert batch.rows == [body] and batch.table == ""


def test_receiving_needs_no_login_nor_csrf(inbox, customer_key):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    assert _post(strict, inbox, ROWS, customer_key).status_code == 200


def test_purge_drops_batches_past_retention_in_batches(client, inbox, customer_key, settings):
    settings.EVENTS_PURGE_BATCH = 1
    for i in range(3):
        _post(client, inbox, [{"n": i}], customer_key)
    EventBatch.objects.filter(rows=[{"n": 0}]).update(
        received_at=timezone.now() - timedelta(days=31)
    )
    EventBatch.objects.filter(rows=[{"n": 1}]).update(
        received_at=timezone.now() - timedelta(days=40)
    )
    assert events_purge_task() == 2
    assert list(EventBatch.objects.values_list("rows", flat=True)) == [[{"n": 2}]]


def test_inbox_lists_filters_and_shows_a_batch(client, owner, teammate, outsider, inbox,
                                              customer_key, office):  # fmt: skip
    _post(client, inbox, ROWS, customer_key)
    _post(client, inbox, [{"ProvNum": 3}], customer_key, **{"Event-Type": "WatchTable: Provider"})
    client.force_login(teammate)  # viewers read the inbox
    url = reverse("apitools_inbox", args=[office.public_id])
    page = client.get(url)
    assert len(page.context["page"].object_list) == 2
    assert inbox.token not in page.content.decode()  # the URL's secret is for actors only
    only = client.get(url, {"table": "provider"})
    assert [b.table for b in only.context["page"].object_list] == ["Provider"]
    found = client.get(url, {"q": "hyperlink"})
    assert [b.table for b in found.context["page"].object_list] == ["Appointment"]
    batch = EventBatch.objects.get(table="Appointment")
    detail = client.get(reverse("apitools_batch", args=[office.public_id, batch.public_id]))
    text = detail.content.decode()
    assert 'id="batch-table"' in text and 'id="batch-json"' in text and "<td>7</td>" in text
    client.force_login(outsider)
    assert client.get(url).status_code == 404


def test_batch_exports_as_csv_and_json(client, teammate, inbox, customer_key, office):
    _post(client, inbox, ROWS, customer_key)
    batch = EventBatch.objects.get()
    client.force_login(teammate)
    args = [office.public_id, batch.public_id]
    csv_text = b"".join(
        client.get(reverse("apitools_batch_export", args=[*args, "csv"])).streaming_content
    ).decode("utf-8-sig")  # the file starts with a BOM for Excel
    assert csv_text.splitlines()[0] == "AptNum,PatNum,Note"
    assert "1,7,'=HYPERLINK(1)" in csv_text  # formula-safe text, numbers untouched
    as_json = client.get(reverse("apitools_batch_export", args=[*args, "json"]))
    assert json.loads(as_json.content) == ROWS
    assert client.get(reverse("apitools_batch_export", args=[*args, "xml"])).status_code == 404


def test_owner_sees_the_receiving_url(owner_client, inbox, office, settings):
    settings.ODPORTAL_PUBLIC_URL = "https://odportal.example.com"
    page = owner_client.get(reverse("apitools_inbox", args=[office.public_id])).content.decode()
    assert f"https://odportal.example.com/api-events/{inbox.token}/" in page
    assert EventInbox.objects.count() == 1


def test_inbox_query_count_does_not_grow_with_batches(
    client, teammate, inbox, customer_key, office, django_assert_num_queries
):
    for i in range(30):
        _post(client, inbox, [{"n": i}], customer_key)
    client.force_login(teammate)
    url = reverse("apitools_inbox", args=[office.public_id])
    with django_assert_num_queries(9):
        page = client.get(url)
    assert len(page.context["page"].object_list) == 30
