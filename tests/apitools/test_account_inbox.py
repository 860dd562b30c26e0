"""The API Events inbox across an account's offices: the same filters and exports as an
office's inbox, scoped to the account, with the offices whose events stopped on top."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from integrations.apitools.models import EventBatch, EventInbox
from integrations.apitools.services import events
from integrations.offices.services import keys
from tests.apitools.test_events_receive import _post
from tests.factories import OfficeFactory, random_key


@pytest.fixture
def posting(client, owner):
    """Post a batch to an office's receiving URL with its key."""
    made: dict = {}

    def post(office, rows, **headers):
        if office.pk not in made:
            plain = random_key()
            keys.customer_key_add(office=office, key=plain, actor=owner)
            made[office.pk] = (events.event_inbox_for_office(office), plain)
        inbox, plain = made[office.pk]
        assert _post(client, inbox, rows, plain, **headers).status_code == 200

    return post


def test_lists_every_office_of_the_account_with_the_inbox_filters(
    client, posting, account, teammate, outsider
):
    north, south = OfficeFactory(account=account), OfficeFactory(account=account)
    elsewhere = OfficeFactory()
    posting(north, [{"AptNum": 1, "Note": "needle"}])
    posting(south, [{"ProvNum": 3}], **{"Event-Type": "WatchTable: Provider"})
    posting(elsewhere, [{"AptNum": 9}])
    client.force_login(teammate)  # viewers read it
    url = reverse("apitools_account_inbox", args=[account.public_id])
    page = client.get(url)
    listed = page.context["page"].object_list
    assert sorted(b.office.name for b in listed) == sorted([north.name, south.name])
    text = page.content.decode()
    assert elsewhere.name not in text and 'aria-current="page">API Events' in text
    batch = EventBatch.objects.get(office=north)
    assert reverse("apitools_batch_export", args=[north.public_id, batch.public_id, "csv"]) in text
    only = client.get(url, {"table": "provider"}).context["page"].object_list
    assert [b.office for b in only] == [south]
    found = client.get(url, {"q": "needle"}).context["page"].object_list
    assert [b.office for b in found] == [north]
    partial = client.get(url, {"table": "provider"}, headers={"HX-Request": "true"})
    assert partial.content.decode().lstrip().startswith('<div id="batches"')
    client.force_login(outsider)
    assert client.get(url).status_code == 404
    client.logout()
    assert client.get(url).status_code == 302  # to the login page


def test_offices_whose_events_stopped_are_named_on_top(owner_client, account):
    quiet = OfficeFactory(account=account)
    inbox = events.event_inbox_for_office(quiet)
    EventInbox.objects.filter(pk=inbox.pk).update(expected_every_s=60, stopped_at=timezone.now())
    text = owner_client.get(reverse("apitools_account_inbox", args=[account.public_id])).content
    assert b'id="deadman"' in text and quiet.name.encode() in text


def test_query_count_does_not_grow_with_batches_or_offices(
    client, posting, account, teammate, django_assert_num_queries
):
    offices = [OfficeFactory(account=account) for _ in range(3)]
    for i in range(12):
        posting(offices[i % 3], [{"n": i}])
    client.force_login(teammate)
    url = reverse("apitools_account_inbox", args=[account.public_id])
    client.get(url)
    with django_assert_num_queries(8):
        page = client.get(url)
    assert len(page.context["page"].object_list) == 12
