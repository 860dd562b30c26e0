"""Reconciliation with the Developer Portal inventory, against a seeded live sandbox."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from integrations.accounts.models import AuditEvent
from integrations.accounts.services import accounts
from integrations.offices.models import CustomerKey, Office, OfficeStatus, PortalKey
from integrations.offices.selectors.inventory import account_inventory
from integrations.offices.services import inventory, keys, offices
from tests.factories import random_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(sandbox_account, sandbox, owner, sandbox_control):
    """One mismatch of each kind (plus the Disabled Office, disabled by its customer)."""
    account = sandbox_account["Spare Office"].account
    accounts.developer_account_update(
        account=account, actor=owner, portal_key=sandbox.manifest["developer_portal_key"]
    )
    account.refresh_from_db()
    untracked = sandbox.state.create_key(dev_ref_id="who-is-this").customer_key
    lost = offices.office_create(account=account, actor=owner, name="Lost Key", time_zone="UTC")
    keys.customer_key_add(office=lost, key=random_key(), actor=owner)  # Open Dental never knew it
    down = sandbox_account["Down Office"]
    Office.objects.filter(pk=down.pk).update(
        status=OfficeStatus.ECONNECTOR_DOWN, status_since=timezone.now() - timedelta(days=10)
    )
    spare_key = CustomerKey.objects.get(office=sandbox_account["Spare Office"])
    keys.customer_key_disable(key=spare_key, actor=owner, reason="local only")
    inventory.portal_inventory_sync(account_id=account.pk)
    return account, untracked


def test_the_sync_finds_each_kind_of_mismatch(seeded, sandbox_account):
    account, untracked = seeded
    found = account_inventory(account)
    assert untracked[-4:] in {p.last4 for p in found.untracked}
    assert {k.office.name for k in found.gone_there} == {"Disabled Office", "Lost Key"}
    assert [k.office.name for _, k in found.idle_billed] == ["Down Office"]
    assert [k.office.name for _, k in found.disabled_here] == ["Spare Office"]
    disabled = CustomerKey.objects.get(office=sandbox_account["Disabled Office"])
    assert disabled.portal_status == "DisabledByCustomer"


def test_a_repeated_sync_changes_nothing_twice(seeded):
    account, _ = seeded
    before = list(PortalKey.objects.filter(account=account).values_list("key_hash", "key_status"))
    inventory.portal_inventory_sync(account_id=account.pk)
    after = list(PortalKey.objects.filter(account=account).values_list("key_hash", "key_status"))
    assert sorted(before) == sorted(after)


def test_each_row_offers_its_action_and_the_actions_work(seeded, sandbox, owner, client):
    account, untracked = seeded
    client.force_login(owner)
    page_url = reverse("account_portal_keys", args=[account.public_id])
    page = client.get(page_url).content.decode()
    assert "Adopt into office" in page and "Mark as known" in page and "who-is-this" in page
    spare, stranger = _portal_key(account, "Spare Office"), _listed(account, untracked)
    client.post(reverse("portal_key_disable", args=[account.public_id, spare.public_id]))
    client.post(reverse("portal_key_known", args=[account.public_id, stranger.public_id]))
    found = account_inventory(account)
    assert sandbox.state.keys[
        keys.customer_key_plaintext(_key(account, "Spare Office"))
    ].status == ("DisabledByDeveloper")
    assert found.disabled_here == [] and stranger not in found.untracked
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"portal_key.disable", "portal_key.known"} <= actions


def test_an_untracked_key_can_be_adopted_into_an_office(seeded, owner, client):
    account, untracked = seeded
    target = offices.office_create(account=account, actor=owner, name="Adopter", time_zone="UTC")
    client.force_login(owner)
    url = reverse(
        "portal_key_adopt", args=[account.public_id, _listed(account, untracked).public_id]
    )
    client.post(url, {"office": str(target.public_id)})
    adopted = CustomerKey.objects.get(office=target)
    assert adopted.is_current and keys.customer_key_plaintext(adopted) == untracked


def _key(account, office_name: str) -> CustomerKey:
    return CustomerKey.objects.get(office__account=account, office__name=office_name)


def _portal_key(account, office_name: str) -> PortalKey:
    return PortalKey.objects.get(account=account, key_hash=_key(account, office_name).key_hash)


def _listed(account, plain: str) -> PortalKey:
    return next(
        p for p in PortalKey.objects.filter(account=account, last4=plain[-4:])
        if keys.customer_key_plaintext(p) == plain
    )  # fmt: skip


def test_a_viewer_sees_the_page_but_cannot_act(seeded, client):
    from integrations.accounts.models import Role
    from tests.factories import MembershipFactory

    account, untracked = seeded
    viewer = MembershipFactory(account=account, role=Role.VIEWER).user
    client.force_login(viewer)
    page = client.get(reverse("account_portal_keys", args=[account.public_id])).content.decode()
    url = reverse(
        "portal_key_known", args=[account.public_id, _listed(account, untracked).public_id]
    )
    assert "Mark as known" not in page and "Keys at Open Dental" in page
    assert client.post(url).status_code == 403
    assert not PortalKey.objects.filter(account=account, known=True).exists()


def test_the_hourly_beat_entry_queues_one_sync_per_account_with_a_portal_key(seeded, settings):
    from odportal.celery import app

    app.control.purge()
    entry = settings.CELERY_BEAT_SCHEDULE["sync-portal-inventories"]
    assert entry["task"] == "offices.portal_inventories" and entry["schedule"] == 3600
    assert entry["options"]["expires"] < entry["schedule"]
    assert inventory.portal_inventories_queue() == 1
    app.control.purge()


@pytest.mark.parametrize(
    ("permissions", "monthly"),
    [
        ({"ApiReadAll"}, "0"),
        ({"ApiReadAll", "ApiQueries", "ApiComm"}, "15"),
        ({"ApiReadAll", "ApiPatients"}, "30"),
        ({"ApiAppointments", "ApiPayPlans"}, "35"),
    ],
)
def test_the_price_tier_is_the_cheapest_covering_the_permissions(permissions, monthly):
    from decimal import Decimal

    from integrations.offices.pricing import tier_for

    assert tier_for(permissions).monthly == Decimal(monthly)


def test_the_billing_view_matches_a_hand_count(seeded, sandbox, owner, client):
    account, _ = seeded
    billed = [
        r for r in sandbox.state.developer_keys() if r.status == "Enabled" and r.office is not None
    ]
    client.force_login(owner)
    page = client.get(reverse("account_billing", args=[account.public_id])).content.decode()
    csv = b"".join(
        client.get(reverse("account_billing_csv", args=[account.public_id])).streaming_content
    ).decode("utf-8-sig")
    lines = csv.strip().splitlines()
    assert "Basic ($15)" in page  # Patients read + Queries read: ReadAll and ApiQueries
    assert f'<dd id="billed-count">{len(billed)} ' in page
    assert f'<dd id="monthly-estimate">{15 * len(billed)} USD</dd>' in page
    assert len(lines) == 1 + len(billed) and lines[0].startswith("key_last4,dev_ref_id")
    assert sum(line.endswith(",yes") for line in lines) == 1  # the Down Office, failing 10 days


@pytest.mark.parametrize("page", ["account_portal_keys", "account_billing"])
def test_the_inventory_pages_read_a_fixed_number_of_queries(seeded, owner, client, page):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from odportal.lib import crypto

    account, _ = seeded
    client.force_login(owner)
    url = reverse(page, args=[account.public_id])

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    before = count()
    for _ in range(5):
        plain = random_key()
        PortalKey.objects.create(
            account=account, key_encrypted=crypto.encrypt(plain), last4=plain[-4:],
            key_hash=crypto.key_hash(plain), key_status="Enabled",
            date_time_assigned=timezone.now(),
        )  # fmt: skip
    assert count() == before
