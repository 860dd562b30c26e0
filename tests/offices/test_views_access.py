"""Every office page tried by the owner, a teammate (viewer) and an outsider."""

from __future__ import annotations

import pytest
from django.urls import reverse

from integrations.offices.models import PollRun
from tests.factories import PollRunFactory


def _get_urls(office, key, run):
    oid = office.public_id
    return [
        reverse("office_detail", args=[oid]),
        reverse("office_aging", args=[oid]),
        reverse("office_aging_csv", args=[oid]),
        reverse("run_badge", args=[run.public_id]),
    ]


def _action_pages(office, key):
    oid = office.public_id
    return [
        reverse("office_edit", args=[oid]),
        reverse("office_key_add", args=[oid]),
        *[
            reverse(f"office_key_{a}", args=[oid, key.public_id])
            for a in ("disable", "enable", "rotate", "move")
        ],
        reverse("office_key_move_choices", args=[oid, key.public_id]) + "?q=a",
    ]


def _posts(office, key):
    oid = office.public_id
    return [
        (reverse("office_poll", args=[oid]), {"kind": "health"}),
        (reverse("office_aging_as_of", args=[oid]), {"as_of": "2024-01-31"}),
        (reverse("office_key_disable", args=[oid, key.public_id]), {"reason": "x"}),
        (reverse("office_key_add", args=[oid]), {"customer_key": "A" * 16}),
        (reverse("office_edit", args=[oid]), {"name": "Renamed"}),
    ]


@pytest.fixture
def run(office):
    return PollRunFactory(office=office)


def test_owner_sees_every_page_and_action(client, owner, office, key, run, snapshot):
    client.force_login(owner)
    for url in [*_get_urls(office, key, run), *_action_pages(office, key)]:
        assert client.get(url).status_code in (200, 286), url
    for url in (reverse("overview"), reverse("office_list"), reverse("office_new")):
        assert client.get(url).status_code == 200


def test_teammate_reads_everything_but_cannot_act(client, teammate, office, key, run, snapshot):
    client.force_login(teammate)
    for url in _get_urls(office, key, run):
        assert client.get(url).status_code in (200, 286), url
    for url in [*_action_pages(office, key), reverse("office_new")]:
        assert client.get(url).status_code == 403, url
    for url, data in _posts(office, key):
        assert client.post(url, data).status_code == 403, url
    assert PollRun.objects.count() == 1


def test_teammate_sees_no_action_buttons(client, teammate, office, key, snapshot):
    client.force_login(teammate)
    body = client.get(reverse("office_detail", args=[office.public_id])).content.decode()
    assert "Poll now" not in body and "Disable…" not in body and "Add a key" not in body
    assert "Edit office" not in body
    aging = client.get(reverse("office_aging", args=[office.public_id])).content.decode()
    assert "Aging as of another date" not in aging
    assert "Add office" not in client.get(reverse("office_list")).content.decode()


def test_outsider_gets_404_everywhere(client, outsider, office, key, run, snapshot):
    client.force_login(outsider)
    for url in [*_get_urls(office, key, run), *_action_pages(office, key)]:
        assert client.get(url).status_code == 404, url
    for url, data in _posts(office, key):
        assert client.post(url, data).status_code == 404, url
    assert office.name not in client.get(reverse("office_list")).content.decode()
    assert office.name not in client.get(reverse("overview")).content.decode()


def test_anonymous_is_sent_to_login(client, office):
    for url in (reverse("office_list"), reverse("office_aging", args=[office.public_id])):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response.url


def test_key_of_another_office_is_404(client, owner, office, key, account):
    from tests.factories import OfficeFactory

    other = OfficeFactory(account=account)
    client.force_login(owner)
    url = reverse("office_key_disable", args=[other.public_id, key.public_id])
    assert client.get(url).status_code == 404
