"""Creating and editing developer accounts; keys are write-only."""

from __future__ import annotations

from django.urls import reverse

from integrations.accounts.models import (
    AuditEvent,
    DeveloperAccount,
    Membership,
    PortalAccess,
    Role,
)
from integrations.accounts.services import accounts as account_services
from odportal.lib import crypto
from tests.factories import UserFactory, random_key


def _details(**overrides) -> dict:
    data = {
        "company_name": "Acme Dental Apps",
        "contact_phone": "+1 555 0199",
        "billing_email": "billing@acme.example",
        "billing_address": "1 Main St\nSpringfield, IL",
        "third_party_developer_name": "",
        "third_party_developer_email": "",
        "app_description": "Reminders and aging reports.",
        "dev_name": "Acme Apps",
        "portal_access": PortalAccess.NOT_REQUESTED,
    }
    return {**data, **overrides}


def test_creator_becomes_owner_and_keys_are_stored_encrypted(client, db):
    user = UserFactory()
    client.force_login(user)
    dev_key, portal_key = random_key(), random_key()
    response = client.post(
        reverse("account_create"), _details(developer_key=dev_key, portal_key=portal_key)
    )
    account = DeveloperAccount.objects.get(company_name="Acme Dental Apps")
    assert response.status_code == 302
    assert response.url == reverse("account_detail", args=[account.public_id])
    assert Membership.objects.get(account=account, user=user).role == Role.OWNER
    assert account.developer_key_last4 == dev_key[-4:]
    assert crypto.decrypt(account.portal_key_encrypted) == portal_key
    page = client.get(response.url).content.decode()
    assert dev_key not in page and portal_key not in page and f"…{dev_key[-4:]}" in page


def test_create_shows_field_errors(client, db):
    client.force_login(UserFactory())
    response = client.post(
        reverse("account_create"),
        _details(company_name="", billing_email="not-an-email", developer_key="short!"),
    )
    form = response.context["form"]
    assert response.status_code == 200
    assert "company_name" in form.errors and "billing_email" in form.errors
    assert not DeveloperAccount.objects.exists()


def test_invalid_developer_key_error_lands_on_its_field_and_is_not_echoed(client, db):
    client.force_login(UserFactory())
    bad_key = "abc$def-ghij-kl"
    response = client.post(reverse("account_create"), _details(developer_key=bad_key))
    assert response.context["form"].errors["developer_key"]
    assert bad_key not in response.content.decode()
    assert 'type="password"' in response.content.decode()


def test_edit_with_blank_keys_keeps_them(client, account, owner):
    key = random_key()
    account_services.developer_account_update(account=account, actor=owner, developer_key=key)
    client.force_login(owner)
    url = reverse("account_edit", args=[account.public_id])
    form_page = client.get(url).content.decode()
    assert key not in form_page and account.developer_key_encrypted not in form_page
    response = client.post(url, _details(company_name="Renamed", developer_key=""))
    account.refresh_from_db()
    assert response.status_code == 302
    assert account.company_name == "Renamed"
    assert crypto.decrypt(account.developer_key_encrypted) == key
    event = AuditEvent.objects.filter(action="account.update").latest("id")
    assert "developer_key" not in event.detail["fields"]


def test_edit_can_replace_and_remove_keys(client, account, owner):
    client.force_login(owner)
    url = reverse("account_edit", args=[account.public_id])
    new_key = random_key()
    client.post(url, _details(developer_key=new_key, portal_key=random_key()))
    account.refresh_from_db()
    assert account.developer_key_last4 == new_key[-4:]
    client.post(url, _details(clear_portal_key="on"))
    account.refresh_from_db()
    assert account.portal_key_encrypted == "" and account.developer_key_last4 == new_key[-4:]


def test_edit_error_re_renders_without_echoing_the_submitted_key(client, account, owner):
    client.force_login(owner)
    key = random_key()
    response = client.post(
        reverse("account_edit", args=[account.public_id]),
        _details(billing_email="nope", developer_key=key),
    )
    assert response.status_code == 200
    assert response.context["form"].errors["billing_email"]
    assert key not in response.content.decode()
    account.refresh_from_db()
    assert account.developer_key_encrypted == ""


def test_operator_edits_details_but_has_no_key_fields(client, account):
    operator = UserFactory(username="operator")
    Membership.objects.create(account=account, user=operator, role=Role.OPERATOR)
    client.force_login(operator)
    url = reverse("account_edit", args=[account.public_id])
    assert "developer_key" not in client.get(url).content.decode()
    client.post(url, _details(developer_key=random_key()))
    account.refresh_from_db()
    assert account.company_name == "Acme Dental Apps"
    assert account.developer_key_encrypted == ""


def test_detail_shows_summary_members_and_office_link(client, account, owner, teammate, office):
    client.force_login(teammate)
    body = client.get(reverse("account_detail", args=[account.public_id])).content.decode()
    assert account.dev_name in body
    assert f"/offices/?account={account.public_id}" in body
    assert "1 office" in body
    assert "owner" in body and "teammate" in body


def test_account_text_is_escaped(client, account, owner):
    account.company_name = "<script>alert(1)</script>"
    account.save()
    client.force_login(owner)
    body = client.get(reverse("account_detail", args=[account.public_id])).content.decode()
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
