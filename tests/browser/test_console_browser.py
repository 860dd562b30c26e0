"""The API console in headless Chromium against the sandbox: GET /appointments and a ShortQuery
show a table and JSON, a second call is paced (not refused), the history lists them, and a
write is audited."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from integrations.accounts.models import AuditEvent
from integrations.apitools.models import ConsoleCall

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_console_reads_short_query_history_and_audited_write(
    page, live_server, login, screenshot, owner, sandbox_account, settings
):
    # odportal paces this key at 2 s (the sandbox enforces 100 ms): a person clicking twice
    # is within the interval.
    settings.OPENDENTAL_THROTTLE_SCALE = 0.4
    office = sandbox_account["Queries Office"]
    login("owner")
    page.goto(f"{live_server.url}/offices/{office.public_id}/")
    page.get_by_role("link", name="API console").click()
    page.wait_for_url(f"**/offices/{office.public_id}/console/")

    page.fill("#id_p_dateStart", "2020-01-01")
    page.fill("#id_p_Limit", "5")
    page.click("#console-form button[type=submit]")
    expect(page.locator("#result-status")).to_have_text("200")
    expect(page.locator("#result-table tbody tr")).to_have_count(5)
    assert json.loads(page.locator("#result-json").inner_text())[0]["AptNum"]
    page.click("#console-form button[type=submit]")  # again, within the throttle interval
    expect(page.locator("#console-history tbody tr")).to_have_count(2)
    expect(page.locator("#result-status")).to_have_text("200")
    second = ConsoleCall.objects.order_by("-created_at").first()
    assert second.status == 200 and second.paced_ms > 0
    screenshot("console-appointments")

    page.get_by_role("link", name="the aging query").click()
    page.click("#console-form button[type=submit]")
    expect(page.locator("#result-status")).to_have_text("200")
    assert page.locator("#result-table tbody tr").count() > 1
    assert "patnum" in page.locator("#result-table thead").inner_text().lower()
    expect(page.locator("#console-history tbody tr")).to_have_count(3)
    screenshot("console-short-query")

    page.get_by_role("button", name="Allow writes (POST/PUT)").click()
    page.select_option("#id_endpoint", "patient_create")
    page.get_by_role("button", name="Choose").click()
    page.fill("#id_body", json.dumps({"LName": "Browser", "FName": "Test"}))
    page.fill("#id_confirm_office", office.name)
    page.click("#console-form button[type=submit]")
    expect(page.locator("#result-status")).to_have_text("401")  # no ApiPatients here
    expect(page.locator("#result-error")).to_contain_text("ApiPatients")
    expect(page.locator("#console-history tbody tr")).to_have_count(4)
    event = AuditEvent.objects.get(action="console.write")
    assert event.detail["path"] == "/patients" and event.actor == owner
    screenshot("console-write")
