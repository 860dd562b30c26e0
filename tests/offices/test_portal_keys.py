"""Disable and Enable at Open Dental's Developer Portal, against the live sandbox over HTTP.

The task's body (``portal.key_portal_apply``) is called as a function here; the real worker
runs it in tests/offices/test_portal_worker.py.
"""

from __future__ import annotations

import httpx
import pytest
from django.urls import reverse

from integrations.accounts.models import AuditEvent
from integrations.accounts.services import accounts
from integrations.offices.models import CustomerKey, KeyStatus, PortalAction
from integrations.offices.services import portal

pytestmark = pytest.mark.django_db


@pytest.fixture
def portal_office(sandbox_account, sandbox, owner, sandbox_control):
    """The Spare Office, its account holding the sandbox's Developer Portal key."""
    office = sandbox_account["Spare Office"]
    accounts.developer_account_update(
        account=office.account, actor=owner, portal_key=sandbox.manifest["developer_portal_key"]
    )
    office.account.refresh_from_db()
    yield office
    httpx.post(f"{sandbox.control_url}/portal/faults", json={"reset": True})


@pytest.fixture
def portal_faults(sandbox):
    def inject(**faults) -> None:
        httpx.post(f"{sandbox.control_url}/portal/faults", json=faults).raise_for_status()

    return inject


def _current(office) -> CustomerKey:
    return CustomerKey.objects.select_related("office__account").get(office=office, is_current=True)


def _listed_status(sandbox, customer_key: str) -> str:
    return sandbox.state.keys[customer_key].status


def _customer_call(sandbox, customer_key: str) -> int:
    headers = {
        "Authorization": f"ODFHIR {sandbox.manifest['developer_key']}/{customer_key}",
        "Content-Type": "application/json",
    }
    return httpx.get(f"{sandbox.base_url}/clinics", headers=headers).status_code


def _actions(office) -> list[str]:
    return list(
        AuditEvent.objects.filter(account=office.account, action__startswith="key.")
        .order_by("created_at", "id")
        .values_list("action", flat=True)
    )


def test_disable_waits_for_open_dental_then_the_key_is_refused_there(portal_office, sandbox, owner):
    key, plain = _current(portal_office), portal_office.manifest["customer_key"]
    portal.customer_key_disable(key=key, actor=owner, reason="cancelled")
    key.refresh_from_db()
    pending = (key.status, key.portal_action, _listed_status(sandbox, plain))
    assert portal.key_portal_apply(key_id=key.pk) is None
    key.refresh_from_db()
    assert pending == (KeyStatus.ENABLED, PortalAction.DISABLE, "Enabled")
    assert (key.status, key.portal_action, key.portal_error) == (
        KeyStatus.DISABLED_BY_DEVELOPER, "", ""
    )  # fmt: skip
    assert _listed_status(sandbox, plain) == "DisabledByDeveloper"
    assert _customer_call(sandbox, plain) == 401
    assert _actions(portal_office)[-2:] == ["key.disable.requested", "key.disable"]
    done = AuditEvent.objects.filter(action="key.disable").latest("id")
    assert (done.actor, done.detail["where"], done.detail["reason"]) == (
        owner, "Open Dental", "cancelled"
    )  # fmt: skip


def test_enable_reverses_both_at_open_dental(portal_office, sandbox, owner):
    key, plain = _current(portal_office), portal_office.manifest["customer_key"]
    portal.customer_key_disable(key=key, actor=owner, reason="x")
    portal.key_portal_apply(key_id=key.pk)
    key.refresh_from_db()
    portal.customer_key_enable(key=key, actor=owner)
    key.refresh_from_db()
    assert (key.status, key.portal_action) == (KeyStatus.DISABLED_BY_DEVELOPER, "enable")
    portal.key_portal_apply(key_id=key.pk)
    key.refresh_from_db()
    assert (key.status, key.is_current, key.portal_action) == (KeyStatus.ENABLED, True, "")
    assert _listed_status(sandbox, plain) == "Enabled"
    assert _customer_call(sandbox, plain) == 200
    assert _actions(portal_office)[-2:] == ["key.enable.requested", "key.enable"]


def test_a_transient_portal_fault_is_retried_and_the_retry_sends_once(
    portal_office, sandbox, owner, portal_faults, settings
):
    settings.KEY_PORTAL_BACKOFF_S = 0.01
    key, plain = _current(portal_office), portal_office.manifest["customer_key"]
    portal.customer_key_disable(key=key, actor=owner, reason="x")
    sandbox.state.reset_stats()
    portal_faults(status_500=True, times=1)  # the first GET fails
    retry_in = portal.key_portal_apply(key_id=key.pk, attempt=0)
    key.refresh_from_db()
    assert retry_in is not None and 0 < retry_in <= 0.01
    assert key.portal_action == PortalAction.DISABLE and "retrying" in key.portal_error
    assert portal.key_portal_apply(key_id=key.pk, attempt=1) is None
    # Redelivered after Open Dental acted (say the worker died before its commit): the key is
    # pending again, Open Dental already shows it disabled, so nothing is sent twice.
    CustomerKey.objects.filter(pk=key.pk).update(portal_action=PortalAction.DISABLE)
    assert portal.key_portal_apply(key_id=key.pk, attempt=0) is None
    assert sandbox.state.stats()["portal_requests"] == {"GET": 3, "POST": 0, "PUT": 1}
    assert _listed_status(sandbox, plain) == "DisabledByDeveloper"


def test_a_permanent_refusal_leaves_the_key_as_it_was_with_open_dentals_reason(
    portal_office, sandbox, owner, portal_faults
):
    key, plain = _current(portal_office), portal_office.manifest["customer_key"]
    portal.customer_key_disable(key=key, actor=owner, reason="x")
    portal_faults(reject_portal_key=True)
    assert portal.key_portal_apply(key_id=key.pk, attempt=0) is None  # no retry of a 401
    key.refresh_from_db()
    assert (key.status, key.is_current, key.portal_action) == (KeyStatus.ENABLED, True, "")
    assert "Open Dental refused" in key.portal_error
    assert "Invalid developer portal key" in key.portal_error
    assert _listed_status(sandbox, plain) == "Enabled" and _customer_call(sandbox, plain) == 200
    refused = AuditEvent.objects.filter(action="key.disable.refused").get()
    assert refused.actor == owner and "Invalid developer portal key" in refused.detail["error"]


def test_the_last_transient_failure_gives_up_and_keeps_the_key(
    portal_office, owner, portal_faults, settings
):
    settings.KEY_PORTAL_MAX_ATTEMPTS = 2
    key = _current(portal_office)
    portal.customer_key_disable(key=key, actor=owner, reason="x")
    portal_faults(timeout=True, timeout_immediate=True)
    assert portal.key_portal_apply(key_id=key.pk, attempt=0) is not None
    assert portal.key_portal_apply(key_id=key.pk, attempt=1) is None
    key.refresh_from_db()
    assert (key.status, key.portal_action) == (KeyStatus.ENABLED, "")
    assert key.portal_error.startswith("Open Dental did not answer")


def test_a_key_disabled_by_the_office_is_enabled_here_only(portal_office, sandbox, owner):
    key = _current(portal_office)
    CustomerKey.objects.filter(pk=key.pk).update(status=KeyStatus.DISABLED_BY_CUSTOMER)
    key.refresh_from_db()
    portal.customer_key_enable(key=key, actor=owner)
    key.refresh_from_db()
    assert (key.status, key.portal_action) == (KeyStatus.ENABLED, "")


def test_a_pending_key_takes_no_other_change(portal_office, owner):
    key = _current(portal_office)
    portal.customer_key_disable(key=key, actor=owner, reason="x")
    with pytest.raises(Exception, match="Disabling at Open Dental"):
        portal.customer_key_disable(key=key, actor=owner, reason="again")


def test_the_key_row_shows_the_pending_change_and_polls_until_it_ends(portal_office, owner, client):
    key = _current(portal_office)
    client.force_login(owner)
    url = reverse("office_key_disable", args=[portal_office.public_id, key.public_id])
    form = client.get(url).content.decode()
    client.post(url, {"reason": "cancelled"})
    detail = reverse("office_detail", args=[portal_office.public_id])
    page = client.get(detail, headers={"HX-Request": "true"}).content.decode()
    assert "Developer Portal to disable this key" in form and "local" not in form
    assert "Disabling at Open Dental…" in page and 'hx-trigger="every 2s"' in page
    portal.key_portal_apply(key_id=key.pk)
    page = client.get(detail, headers={"HX-Request": "true"}).content.decode()
    assert "Disabling at Open Dental" not in page and "every 2s" not in page
    assert "Disabled by developer" in page


def test_without_a_portal_key_the_forms_say_the_change_is_local(office, key, owner, client):
    client.force_login(owner)
    url = reverse("office_key_disable", args=[office.public_id, key.public_id])
    page = client.get(url).content.decode()
    settings_url = reverse("account_edit", args=[office.account.public_id]) + "#id_portal_key"
    assert "This change is local" in page and "stays valid at Open Dental" in page
    assert f'href="{settings_url}"' in page
    assert "your integration loses access" not in page
    client.post(url, {"reason": "gone"})
    key.refresh_from_db()
    assert (key.status, key.portal_action) == (KeyStatus.DISABLED_BY_DEVELOPER, "")
    assert AuditEvent.objects.get(action="key.disable").detail["where"] == "odportal only"


def test_rotating_disables_the_old_key_at_open_dental_too(portal_office, sandbox, owner):
    from tests.factories import random_key

    old, plain = _current(portal_office), portal_office.manifest["customer_key"]
    new = portal.customer_key_rotate(key=old, new_key=random_key(), actor=owner, reason="leak")
    old.refresh_from_db()
    assert (old.status, old.portal_action) == (KeyStatus.DISABLED_BY_DEVELOPER, "disable")
    portal.key_portal_apply(key_id=old.pk)
    old.refresh_from_db()
    assert old.portal_action == "" and new.is_current
    assert _listed_status(sandbox, plain) == "DisabledByDeveloper"


def test_a_change_pending_too_long_is_sent_again_and_lands_once(portal_office, sandbox, owner):
    from datetime import timedelta

    from django.utils import timezone

    from odportal.celery import app

    key, plain = _current(portal_office), portal_office.manifest["customer_key"]
    portal.customer_key_disable(key=key, actor=owner, reason="x")  # its message never sent
    fresh = portal.key_portal_resend_stale()
    CustomerKey.objects.filter(pk=key.pk).update(
        portal_requested_at=timezone.now() - timedelta(hours=2)
    )
    app.control.purge()
    assert (fresh, portal.key_portal_resend_stale()) == (0, 1)
    app.control.purge()
    sandbox.state.reset_stats()
    portal.key_portal_apply(key_id=key.pk)
    portal.key_portal_apply(key_id=key.pk)  # a second copy: nothing pending, nothing sent
    assert sandbox.state.stats()["portal_requests"]["PUT"] == 1
    assert _listed_status(sandbox, plain) == "DisabledByDeveloper"
