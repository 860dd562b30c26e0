"""Generating an office's customer key at Open Dental (POST /apikeys) and its onboarding page,
against the live sandbox over real HTTP."""

from __future__ import annotations

import httpx
import pytest
from django.db import connection
from django.urls import reverse

from integrations.accounts.models import AuditEvent, Role
from integrations.accounts.services import accounts
from integrations.offices.models import CustomerKey, Office, OfficeStatus
from integrations.offices.services import keys, offices
from tests.factories import MembershipFactory
from tests.helpers import office_form_token, run_to_end

pytestmark = pytest.mark.django_db


@pytest.fixture
def portal_account(sandbox_account, sandbox, owner):
    account = sandbox_account["Spare Office"].account
    accounts.developer_account_update(
        account=account, actor=owner, portal_key=sandbox.manifest["developer_portal_key"]
    )
    account.refresh_from_db()
    return account


@pytest.fixture
def new_office(portal_account, owner):
    return offices.office_create(
        account=portal_account, actor=owner, name="New Clinic", reference="NC-7", time_zone="UTC"
    )


def _assign(sandbox, customer_key: str, office_name: str) -> None:
    """The office's IT pastes the key: the sandbox links it to one of its offices."""
    office_key = next(o for o in sandbox.manifest["offices"] if o["name"] == office_name)
    url = f"{sandbox.control_url}/keys/{customer_key}/assign"
    httpx.post(url, json={"office_key": office_key["customer_key"]}).raise_for_status()


def test_generate_creates_the_key_at_open_dental_stored_encrypted_as_the_current_key(
    new_office, sandbox, owner, client
):
    client.force_login(owner)
    response = client.post(reverse("office_key_generate", args=[new_office.public_id]))
    key = CustomerKey.objects.get(office=new_office)
    plain = keys.customer_key_plaintext(key)
    record = sandbox.state.keys[plain]
    with connection.cursor() as cur:
        cur.execute("SELECT key_encrypted FROM offices_customerkey WHERE id = %s", [key.pk])
        (stored,) = cur.fetchone()
    assert response.url == reverse("office_onboarding", args=[new_office.public_id])
    assert (record.dev_ref_id, record.office) == ("NC-7", None)
    assert plain not in stored and key.last4 == plain[-4:]
    assert key.is_current and key.generated
    event = AuditEvent.objects.get(action="key.generate")
    assert plain not in str(event.detail) and event.actor == owner


def test_the_onboarding_page_shows_the_key_once_asked_and_follows_the_office_to_ok(
    new_office, sandbox, owner, client
):
    client.force_login(owner)
    client.post(reverse("office_key_generate", args=[new_office.public_id]))
    key = CustomerKey.objects.get(office=new_office)
    plain = keys.customer_key_plaintext(key)
    page_url = reverse("office_onboarding", args=[new_office.public_id])
    before = client.get(page_url).content.decode()
    shown = client.post(reverse("office_key_reveal", args=[new_office.public_id]))
    assert plain not in before and "Show the key" in before and 'hx-trigger="every 3s"' in before
    assert plain in shown.content.decode() and shown["Cache-Control"].startswith("max-age=0")
    assert AuditEvent.objects.filter(action="key.reveal", actor=owner).count() == 1
    _assign(sandbox, plain, "Spare Office")
    run_to_end(Office.objects.get(pk=new_office.pk))
    after = client.get(page_url, headers={"HX-Request": "true"}).content.decode()
    refused = client.post(reverse("office_key_reveal", args=[new_office.public_id]))
    assert Office.objects.get(pk=new_office.pk).status == OfficeStatus.OK
    assert (
        after.count("Done") == 3 and "every 3s" not in after and "the office is connected" in after
    )
    assert plain not in refused.content.decode() and "no longer shown" in refused.content.decode()


def test_a_viewer_sees_the_steps_but_never_the_key(new_office, owner, client):
    viewer = MembershipFactory(account=new_office.account, role=Role.VIEWER).user
    client.force_login(owner)
    client.post(reverse("office_key_generate", args=[new_office.public_id]))
    client.force_login(viewer)
    page = client.get(reverse("office_onboarding", args=[new_office.public_id])).content.decode()
    reveal = client.post(reverse("office_key_reveal", args=[new_office.public_id]))
    assert "Show the key" not in page and "Key accepted" in page
    assert reveal.status_code == 403
    assert not AuditEvent.objects.filter(action="key.reveal").exists()


def test_the_add_office_form_can_generate_the_first_key(portal_account, owner, client):
    client.force_login(owner)
    form = client.get(reverse("office_new")).content.decode()
    response = client.post(
        reverse("office_new"),
        {
            "account": str(portal_account.public_id), "name": "Fresh Office", "api_mode": "remote",
            "time_zone": "UTC", "health_interval_s": 300, "polling_enabled": "on",
            "generate_key": "on", "form_token": office_form_token(client),
        },
    )  # fmt: skip
    office = Office.objects.get(name="Fresh Office")
    assert "Generate its customer key at Open Dental now" in form
    assert response.url == reverse("office_onboarding", args=[office.public_id])
    assert office.keys.get().generated


def test_without_a_portal_key_nothing_is_generated(office, owner, client):
    client.force_login(owner)
    page = client.get(reverse("office_detail", args=[office.public_id])).content.decode()
    response = client.post(reverse("office_key_generate", args=[office.public_id]), follow=True)
    assert "Generate a key at Open Dental" not in page
    assert "Developer Portal key to generate keys" in response.content.decode()
    assert not office.keys.exists()
