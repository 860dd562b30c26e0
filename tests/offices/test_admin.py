"""The admin cannot add, change or delete customer keys, add offices, or change an office's
account, API mode or base URL: where an office's requests go, and with which key, changes only
through the services."""

from __future__ import annotations

import json

from django.forms.models import model_to_dict
from django.urls import reverse

from integrations.offices.models import KeyStatus, Office


def _admin_form_data(office: Office) -> dict:
    """The office as its admin form would post it back unchanged."""
    data = {}
    for name, value in model_to_dict(office).items():
        if value is not None and value is not False:
            data[name] = json.dumps(value) if isinstance(value, list | dict) else value
    return data


def test_customer_keys_are_shown_but_not_added_changed_or_deleted(admin_client, key):
    change = reverse("admin:offices_customerkey_change", args=[key.pk])
    page = admin_client.get(change)
    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert admin_client.get(reverse("admin:offices_customerkey_add")).status_code == 403
    posted = admin_client.post(change, {"status": KeyStatus.DISABLED_BY_HQ, "is_current": ""})
    assert posted.status_code == 403
    delete = reverse("admin:offices_customerkey_delete", args=[key.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    key.refresh_from_db()
    assert key.status == KeyStatus.ENABLED and key.is_current


def test_an_office_s_account_mode_and_base_url_are_read_only_in_the_admin(
    admin_client, office, outsider
):
    change = reverse("admin:offices_office_change", args=[office.pk])
    page = admin_client.get(change).content.decode()
    for field in ("account", "api_mode", "base_url"):
        assert f'name="{field}"' not in page, field
    assert office.base_url in page  # shown, as text
    data = _admin_form_data(office) | {
        "name": "Renamed",
        "base_url": "http://169.254.169.254/latest",
        "api_mode": "service",
        "account": outsider.developer_accounts.get().pk,
    }
    response = admin_client.post(change, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    saved = Office.objects.get(pk=office.pk)
    assert saved.name == "Renamed"  # the rest of the form still works
    assert (saved.base_url, saved.api_mode, saved.account_id) == (
        office.base_url, office.api_mode, office.account_id,
    )  # fmt: skip


def test_offices_are_not_added_in_the_admin(admin_client, db):
    assert admin_client.get(reverse("admin:offices_office_add")).status_code == 403
