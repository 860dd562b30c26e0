"""'Test this key' on the office page: permissions and version from the sandbox, at once."""

from __future__ import annotations

from django.urls import reverse


def test_office_page_offers_the_key_test(owner_client, sandbox_office):
    page = owner_client.get(reverse("office_detail", args=[sandbox_office.public_id]))
    assert reverse("apitools_key_test", args=[sandbox_office.public_id]) in page.content.decode()


def test_key_test_shows_permissions_and_version(owner_client, sandbox_office):
    url = reverse("apitools_key_test", args=[sandbox_office.public_id])
    response = owner_client.post(url, headers={"HX-Request": "true"})
    test = response.context["test"]
    assert not test.error
    assert set(test.granted) == set(sandbox_office.manifest["permissions"])
    assert test.version
    page = response.content.decode()
    assert page.lstrip().startswith('<div id="key-test"')  # the partial, for htmx
    assert "Key works" in page and test.version in page


def test_key_test_shows_open_dental_refusal(owner_client, sandbox_account):
    office = sandbox_account["Disabled Office"]
    response = owner_client.post(reverse("apitools_key_test", args=[office.public_id]))
    test = response.context["test"]
    assert test.status == 401 and test.error
    assert "Failed" in response.content.decode()


def test_viewers_cannot_run_the_key_test(client, teammate, office):
    client.force_login(teammate)
    assert client.post(reverse("apitools_key_test", args=[office.public_id])).status_code == 403
