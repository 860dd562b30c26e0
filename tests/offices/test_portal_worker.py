"""Disable and Enable from the key form to Open Dental and back: a real Celery worker process,
the real broker and database, the live sandbox's Developer Portal over HTTP."""

from __future__ import annotations

import time

import httpx
import pytest
from django.urls import reverse

from integrations.accounts.models import AuditEvent
from integrations.accounts.services import accounts
from integrations.offices.models import CustomerKey, KeyStatus
from tests.helpers import THROTTLE_SCALE, Worker

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(celery_broker, tmp_path, sandbox):
    from odportal.celery import app

    app.control.purge()
    w = Worker(
        celery_broker,
        tmp_path / "worker.log",
        OPENDENTAL_THROTTLE_SCALE=str(THROTTLE_SCALE),
        OPENDENTAL_REMOTE_BASE_URL=sandbox.base_url,
        ODPORTAL_KEY_PORTAL_BACKOFF_S="0.05",
    )
    yield w.start()
    w.stop()
    httpx.post(f"{sandbox.control_url}/portal/faults", json={"reset": True})


@pytest.fixture
def portal_office(sandbox_account, sandbox, owner, sandbox_control):
    office = sandbox_account["Spare Office"]
    accounts.developer_account_update(
        account=office.account, actor=owner, portal_key=sandbox.manifest["developer_portal_key"]
    )
    return office


def _settled(office, timeout: float = 30) -> CustomerKey:
    """The office's key once no portal change is pending any more."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        key = CustomerKey.objects.filter(office=office).order_by("-id").first()
        if not key.portal_action:
            return key
        time.sleep(0.2)
    raise AssertionError("the portal change is still pending")


def _customer_call(sandbox, customer_key: str) -> int:
    auth = f"ODFHIR {sandbox.manifest['developer_key']}/{customer_key}"
    headers = {"Authorization": auth, "Content-Type": "application/json"}
    return httpx.get(f"{sandbox.base_url}/clinics", headers=headers).status_code


def _act(client, office, key, action: str, **data) -> None:
    url = reverse(f"office_key_{action}", args=[office.public_id, key.public_id])
    assert client.post(url, data).status_code == 302


def test_disable_and_enable_in_the_ui_reach_open_dental_through_the_worker(
    portal_office, sandbox, owner, client, worker, sandbox_control
):
    plain = portal_office.manifest["customer_key"]
    client.force_login(owner)
    # One transient 500 first: the task retries it (with backoff) and still gets there.
    httpx.post(f"{sandbox.control_url}/portal/faults", json={"status_500": True, "times": 1})
    _act(client, portal_office, portal_office.keys.get(), "disable", reason="cancelled")
    key = _settled(portal_office)
    assert (key.status, key.portal_error) == (KeyStatus.DISABLED_BY_DEVELOPER, "")
    assert sandbox.state.keys[plain].status == "DisabledByDeveloper"
    assert _customer_call(sandbox, plain) == 401
    _act(client, portal_office, key, "enable")
    key = _settled(portal_office)
    assert (key.status, key.is_current) == (KeyStatus.ENABLED, True)
    assert sandbox.state.keys[plain].status == "Enabled" and _customer_call(sandbox, plain) == 200


def test_a_portal_fault_leaves_the_key_unchanged_with_the_reason_and_the_audit(
    portal_office, sandbox, owner, client, worker
):
    client.force_login(owner)
    httpx.post(f"{sandbox.control_url}/portal/faults", json={"reject_portal_key": True})
    _act(client, portal_office, portal_office.keys.get(), "disable", reason="cancelled")
    key = _settled(portal_office)
    assert (key.status, key.is_current) == (KeyStatus.ENABLED, True)
    page = client.get(reverse("office_detail", args=[portal_office.public_id])).content.decode()
    assert "Open Dental refused" in page and "Invalid developer portal key." in page
    actions = AuditEvent.objects.filter(action__startswith="key.disable").order_by("id")
    assert list(actions.values_list("action", flat=True)) == [
        "key.disable.requested", "key.disable.refused"
    ]  # fmt: skip
