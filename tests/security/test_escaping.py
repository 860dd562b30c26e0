"""Hostile text in office names, account fields, errors and audit details renders escaped."""

from __future__ import annotations

import pytest
from django.urls import reverse

from integrations.accounts.services import accounts
from integrations.offices.models import Office, OfficeStatus
from integrations.offices.services import keys, offices
from tests.factories import random_key
from tests.helpers import office_form_token

SCRIPT = "<script>alert(1)</script>"
ATTR = "\"'><img src=x onerror=alert(1)>"
RAW = ("<script>alert(1)", "<img src=x onerror", "<img src=x")
ESCAPED = ("&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;img src=x onerror=alert(1)&gt;")


@pytest.fixture
def hostile(owner, teammate):
    """An account, office, key and audit trail full of markup."""
    account = accounts.developer_account_create(
        actor=owner,
        company_name=ATTR,
        contact_phone=SCRIPT,
        billing_email="billing@example.com",
        billing_address=SCRIPT + "\n" + ATTR,
        third_party_developer_name=SCRIPT,
        app_description=ATTR + SCRIPT,
        dev_name=SCRIPT + ATTR,
    )
    accounts.membership_set(account=account, actor=owner, user=teammate, role="viewer")
    office = offices.office_create(
        account=account,
        actor=owner,
        name=ATTR,
        reference=SCRIPT,
        notes=SCRIPT + ATTR,
        time_zone="UTC",
    )
    key = keys.customer_key_add(office=office, key=random_key(), actor=owner)
    keys.customer_key_disable(key=key, actor=owner, reason=SCRIPT + ATTR)
    Office.objects.filter(pk=office.pk).update(
        status=OfficeStatus.OD_ERROR, last_error=f"HTTP 400 · BadRequest: {SCRIPT} {ATTR}"
    )
    return account, office, key


def _pages(account, office, key) -> list[tuple[str, dict]]:
    a, o = account.public_id, office.public_id
    return [
        (reverse("overview"), {}),
        (reverse("office_list"), {}),
        (reverse("office_list"), {"HX-Request": "true"}),
        (reverse("office_detail", args=[o]), {}),
        (reverse("office_edit", args=[o]), {}),
        (reverse("office_aging", args=[o]), {}),
        (reverse("office_key_enable", args=[o, key.public_id]), {}),
        (reverse("account_list"), {}),
        (reverse("account_detail", args=[a]), {}),
        (reverse("account_edit", args=[a]), {}),
        (reverse("account_permissions", args=[a]), {}),
        (reverse("account_portal_request", args=[a]), {}),
        (reverse("account_members", args=[a]), {}),
        (reverse("account_audit", args=[a]), {}),
        (reverse("account_audit", args=[a]), {"HX-Request": "true"}),
    ]


def _assert_escaped(body: str, where: str) -> None:
    for raw in RAW:
        assert raw not in body, f"{where}: unescaped {raw!r}"


def test_hostile_text_is_escaped_on_every_page_that_shows_it(client, owner, hostile):
    client.force_login(owner)
    seen_escaped = set()
    for url, headers in _pages(*hostile):
        response = client.get(url, headers=headers)
        assert response.status_code == 200, url
        body = response.content.decode()
        _assert_escaped(body, f"{url} {headers}")
        seen_escaped |= {e for e in ESCAPED if e in body}
    assert seen_escaped == set(ESCAPED)  # the payloads were shown, escaped


def test_hostile_last_error_and_audit_detail_are_shown_escaped(client, owner, hostile):
    account, office, _key = hostile
    client.force_login(owner)
    detail = client.get(reverse("office_detail", args=[office.public_id])).content.decode()
    assert "BadRequest: &lt;script&gt;alert(1)&lt;/script&gt;" in detail
    audit = client.get(reverse("account_audit", args=[account.public_id])).content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in audit
    _assert_escaped(detail + audit, "detail/audit")


def test_a_hostile_office_name_in_a_flash_message_is_escaped(client, owner, hostile):
    account, _office, _key = hostile
    client.force_login(owner)
    response = client.post(
        reverse("office_new"),
        {
            "account": str(account.public_id),
            "form_token": office_form_token(client),
            "same_name_ok": "on",  # the hostile fixture's office has this name already
            "name": SCRIPT,
            "api_mode": "remote",
            "base_url": "https://api.opendental.com/api/v1",
            "time_zone": "UTC",
            "health_interval_s": 300,
            "polling_enabled": "on",
        },
        follow=True,
    )
    body = response.content.decode()
    assert Office.objects.filter(name=SCRIPT).exists(), body[:2000]
    _assert_escaped(body, "office_new message")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


def test_the_teammate_sees_the_same_pages_escaped(client, teammate, hostile):
    client.force_login(teammate)
    seen_escaped = set()
    for url, headers in _pages(*hostile):
        response = client.get(url, headers=headers)
        assert response.status_code in (200, 403), url  # a viewer may not open the edit forms
        body = response.content.decode()
        _assert_escaped(body, url)
        seen_escaped |= {e for e in ESCAPED if e in body}
    assert seen_escaped == set(ESCAPED)  # the payloads were shown to the teammate too
