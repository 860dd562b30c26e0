"""Run the product in a subprocess against a private database: seed it, or serve pages.

``python -m tests.faults.product seed MANIFEST_JSON`` creates an owner, an account and the
sandbox's offices with their keys and prints ``{office name: office id}``;
``python -m tests.faults.product pages OFFICE_ID`` fetches the pages as the owner (Django's test
client), presses "Poll now" and calls ``poll_enqueue`` itself, and prints what it saw as JSON.
"""

from __future__ import annotations

import json
import sys

import django


def seed(manifest: dict) -> dict[str, int]:
    from django.contrib.auth import get_user_model

    from integrations.accounts.services import accounts
    from integrations.offices.services import keys, offices

    owner = get_user_model().objects.create_user("owner", password="unused-password-123")
    account = accounts.developer_account_create(
        actor=owner, developer_key=manifest["developer_key"], company_name="Faults Vendor",
        contact_phone="+1 555 0100", billing_email="billing@faults.example",
        billing_address="1 Test Way", app_description="Fault tests", dev_name=manifest["dev_name"],
    )  # fmt: skip
    # As the dashboard's users do: ReadAll Office's key lacks Queries, so it is "Permission
    # missing".
    accounts.requested_permissions_set(
        account=account, actor=owner,
        matrix={"Patients": {"read": True}, "Queries": {"read": True}},
    )  # fmt: skip
    made = {}
    for spec in manifest["offices"]:
        # Remote: the worker's OPENDENTAL_REMOTE_BASE_URL is the sandbox's.
        office = offices.office_create(
            account=account, actor=owner, name=spec["name"], time_zone="UTC"
        )
        keys.customer_key_add(office=office, key=spec["customer_key"], actor=owner)
        made[spec["name"]] = office.pk
    return made


def pages(office_id: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django.urls import reverse

    from integrations.offices.models import Office
    from integrations.offices.services.polling import dispatch

    setup_test_environment()  # allows the test client's host name
    office = Office.objects.get(pk=office_id)
    client = Client()
    client.force_login(get_user_model().objects.get(username="owner"))
    seen = {}
    for name in ("overview", "office_list"):
        seen[name] = client.get(reverse(name)).status_code
    for name in ("office_detail", "office_aging"):
        seen[name] = client.get(reverse(name, args=[office.public_id])).status_code
    poll_url = reverse("office_poll", args=[office.public_id])
    partial = client.post(poll_url, {"kind": "health"}, headers={"HX-Request": "true"})
    seen["poll_partial"] = [partial.status_code, partial.content.decode()]
    followed = client.post(poll_url, {"kind": "health"}, follow=True)
    seen["poll_page"] = [followed.status_code, followed.content.decode()]
    try:
        dispatch.poll_enqueue(office=office)
        seen["enqueue"] = "queued"
    except dispatch.WorkersUnavailable as exc:
        seen["enqueue"] = f"WorkersUnavailable: {exc}"
    return seen


if __name__ == "__main__":
    django.setup()
    command, arg = sys.argv[1], sys.argv[2]
    result = seed(json.loads(arg)) if command == "seed" else pages(int(arg))
    print("RESULT " + json.dumps(result))
