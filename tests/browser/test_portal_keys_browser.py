"""Key actions that reach Open Dental, in headless Chromium against the live sandbox: disable
and enable (the row shows the pending change and updates itself), generate and onboard.

The portal task's body runs in the test (as the worker would); the real worker runs it in
tests/offices/test_portal_worker.py.
"""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import expect

from integrations.accounts.services import accounts
from integrations.offices.models import CustomerKey, Office
from integrations.offices.services import keys, portal
from tests.helpers import run_to_end

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def spare(sandbox_account, sandbox, owner, sandbox_control):
    office = sandbox_account["Spare Office"]
    accounts.developer_account_update(
        account=office.account, actor=owner, portal_key=sandbox.manifest["developer_portal_key"]
    )
    return office


def _apply_pending(office) -> None:
    for key in CustomerKey.objects.filter(office=office).exclude(portal_action=""):
        portal.key_portal_apply(key_id=key.pk)


def test_disable_then_enable_at_open_dental(page, live_server, login, screenshot, spare, sandbox):
    plain = spare.manifest["customer_key"]
    login("owner")
    page.goto(f"{live_server.url}/offices/{spare.public_id}/")
    page.get_by_role("link", name="Disable…").click()
    expect(page.locator("main")).to_contain_text("Developer Portal to disable this key")
    page.fill("#id_reason", "office cancelled")
    page.get_by_role("button", name="Disable key").click()
    row = page.locator("#keys-card tbody tr").first
    expect(row).to_contain_text("Disabling at Open Dental…")
    screenshot("key-disabling-at-open-dental")
    _apply_pending(spare)
    expect(row).to_contain_text("Disabled by developer", timeout=10_000)  # the row polls
    assert sandbox.state.keys[plain].status == "DisabledByDeveloper"
    page.get_by_role("link", name="Enable…").click()
    page.get_by_role("button", name="Enable key").click()
    expect(row).to_contain_text("Enabling at Open Dental…")
    _apply_pending(spare)
    expect(row).to_contain_text("Enabled", timeout=10_000)
    expect(row).not_to_contain_text("Enabling at Open Dental")
    assert sandbox.state.keys[plain].status == "Enabled"
    screenshot("key-enabled-at-open-dental")


def test_generate_a_key_and_follow_the_onboarding_to_ok(
    page, live_server, login, screenshot, spare, sandbox, owner
):
    office = Office.objects.create(account=spare.account, name="New Clinic", time_zone="UTC")
    login("owner")
    page.goto(f"{live_server.url}/offices/{office.public_id}/")
    page.get_by_role("button", name="Generate a key at Open Dental").click()
    page.wait_for_url(f"**/offices/{office.public_id}/onboarding/")
    expect(page.locator("#onboarding-steps")).to_contain_text("Waiting")
    page.get_by_role("button", name="Show the key").click()
    key = CustomerKey.objects.get(office=office)
    plain = keys.customer_key_plaintext(key)
    expect(page.locator("#revealed-key")).to_have_text(plain)
    page.goto(f"{live_server.url}/offices/{office.public_id}/onboarding/")
    office_key = sandbox.manifest["offices"][4]["customer_key"]  # the IT pastes it there
    url = f"{sandbox.control_url}/keys/{plain}/assign"
    httpx.post(url, json={"office_key": office_key}).raise_for_status()
    run_to_end(office)
    steps = page.locator("#onboarding-steps")
    expect(steps).to_contain_text("the office is connected", timeout=10_000)
    expect(steps.locator(".badge-step-done")).to_have_count(3)
    screenshot("onboarding-connected")
