"""Context kept across htmx swaps and Back (issue 21, "Context that is lost"), in headless
Chromium: the office list's sort through a search, its controls after Back, a refused long
search, the aging page's sort through its clinic filter and a typed as-of date."""

from __future__ import annotations

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from integrations.offices.models import Office, RunOutcome
from tests.factories import (
    AgingSnapshotFactory,
    ClinicFactory,
    CustomerKeyFactory,
    OfficeFactory,
    PollRunFactory,
    make_current,
    make_rows,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Collects what the CSP refuses (the page's own listeners would be subject to it).
CSP_WATCH = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  const where = e.target && e.target.outerHTML ? e.target.outerHTML.slice(0, 120) : "";
  window.__csp.push(`${e.violatedDirective} ${e.sourceFile}:${e.columnNumber} ${where}`);
});
"""


@pytest.fixture
def fleet(account):
    for name, status in [
        ("Lakeside Dental", "ok"),
        ("Lake View Smiles", "ok"),
        ("Lakeshore Ortho", "econnector_down"),
        ("Bright Smiles", "ok"),
        ("Cedar Dental", "econnector_down"),
    ]:
        OfficeFactory(account=account, name=name, status=status)


def _back(page) -> None:
    """Back, and the full page htmx asks the server for (it keeps no snapshots)."""
    restore = "hx-history-restore-request"
    with page.expect_response(lambda r: r.request.headers.get(restore) == "true"):
        page.go_back()


def _names(page) -> list[str]:
    # The office's name is the row's first link (after the bulk tick box, when shown).
    return page.locator("#office-results tbody tr").evaluate_all(
        "rows => rows.map(r => r.querySelector('td:not(.pick) a').innerText)"
    )


def test_search_and_filter_keep_the_sort(page, live_server, login, screenshot, owner, fleet):
    login("owner")
    page.goto(f"{live_server.url}/offices/")
    page.get_by_role("link", name="Office", exact=True).click()  # name, descending
    page.wait_for_url("**sort=name&dir=desc**")
    page.locator("#id_q").press_sequentially("lake")
    page.wait_for_url("**q=lake**")
    assert "dir=desc" in page.url
    expect(page.locator("#office-results tbody tr")).to_have_count(3)
    assert _names(page) == ["Lakeside Dental", "Lakeshore Ortho", "Lake View Smiles"]
    page.select_option("#id_status", "ok")
    page.wait_for_url("**status=ok**")
    expect(page.locator("#office-results tbody tr")).to_have_count(2)
    assert _names(page) == ["Lakeside Dental", "Lake View Smiles"]  # still descending
    assert "sort=name&dir=desc" in page.url
    screenshot("context-search-keeps-sort")


def test_back_restores_the_filter_controls(page, live_server, login, screenshot, owner, fleet):
    page.add_init_script(CSP_WATCH)
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    login("owner")
    page.goto(f"{live_server.url}/offices/")
    page.select_option("#id_status", "ok")
    page.wait_for_url("**status=ok**")
    page.locator("#id_q").press_sequentially("lake")
    page.wait_for_url("**q=lake**")
    expect(page.locator("#office-results tbody tr")).to_have_count(2)
    page.select_option("#id_mode", "local")
    page.wait_for_url("**mode=local**")
    expect(page.locator("#office-results tbody tr")).to_have_count(1)  # "No offices match."

    _back(page)  # to status=ok&q=lake
    page.wait_for_url("**q=lake&status=ok&account=&mode=&**")
    expect(page.locator("#office-results tbody tr")).to_have_count(2)
    expect(page.locator("#id_status")).to_have_value("ok")
    expect(page.locator("#id_q")).to_have_value("lake")
    expect(page.locator("#id_mode")).to_have_value("")
    screenshot("context-back-restores-controls")

    # The next change keeps the restored filters rather than silently dropping them.
    page.locator("#id_q").fill("")
    page.locator("#id_q").press("End")
    page.wait_for_url("**q=&status=ok**")
    expect(page.locator("#office-results tbody tr")).to_have_count(3)
    _back(page)
    page.wait_for_url("**q=lake&status=ok**")
    expect(page.locator("#id_q")).to_have_value("lake")
    expect(page.locator("#office-results tbody tr")).to_have_count(2)
    assert page.evaluate("window.__csp") == []
    assert [m for m in console if "Content Security Policy" in m] == []


def test_long_search_is_refused_beside_the_field(
    page, live_server, login, screenshot, owner, fleet
):
    login("owner")
    page.goto(f"{live_server.url}/offices/?status=ok")
    page.locator("#id_q").fill("lake-" * 25)  # 125 characters
    page.locator("#id_q").press("End")
    error = page.locator("#q-error")
    expect(error).to_contain_text("Search for at most 100 characters (this has 125)")
    # The search is not applied, status=ok is: three OK offices, not all five.
    expect(page.locator("#office-results tbody tr")).to_have_count(3)
    expect(page.locator("#id_q")).to_have_value("lake-" * 25)
    screenshot("context-long-search-refused")
    page.locator("#id_q").fill("cedar")
    page.locator("#id_q").press("End")
    expect(error).to_have_text("")
    expect(page.locator("#office-results tbody tr")).to_have_count(1)  # "No offices match."


def test_aging_clinic_filter_keeps_the_sort(page, live_server, login, screenshot, owner, account):
    office = OfficeFactory(account=account, name="Lakeside Family Dental")
    snap = AgingSnapshotFactory(office=office)
    ClinicFactory(office=office, clinic_num=1, abbr="North")
    make_rows(snap, 40, clinics=(0, 1))
    make_current(office, snap)
    login("owner")
    page.goto(f"{live_server.url}/offices/{office.public_id}/aging/")
    page.get_by_role("link", name="PatNum").click()
    page.wait_for_url("**sort=pat_num**")
    page.select_option("#clinic-filter", "1")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**clinic=1**")
    assert "sort=pat_num" in page.url
    expect(page.locator("#aging-rows th[aria-sort]")).to_contain_text("PatNum")
    screenshot("context-aging-clinic-keeps-sort")


def test_as_of_error_is_shown_on_the_field(page, live_server, login, screenshot, owner, account):
    office = OfficeFactory(account=account, name="Lakeside Family Dental")
    login("owner")
    page.goto(f"{live_server.url}/offices/{office.public_id}/aging/")
    page.fill("#id_as_of", "1999-12-31")
    page.get_by_role("button", name="Request").click()
    error = page.locator("#as_of-errors")
    expect(error).to_contain_text("Choose a date from 2000-01-01 on")
    expect(page.locator("#id_as_of")).to_have_value("1999-12-31")  # kept as typed
    expect(page.locator(".messages")).to_have_count(0)  # no banner at the top
    screenshot("context-as-of-error-on-field")
    page.fill("#id_as_of", "2024-06-30")
    page.get_by_role("button", name="Request").click()
    page.locator(".msg-success").get_by_text("Aging as of 2024-06-30 requested.").wait_for()


def test_removing_a_member_asks_first_and_a_refusal_redirects(
    page, live_server, login, screenshot, owner, teammate, account
):
    login("owner")
    members_url = f"{live_server.url}/developer-accounts/{account.public_id}/members/"
    page.goto(members_url)
    page.get_by_role("link", name="Remove… teammate").click()
    expect(page.get_by_role("heading", name="Remove teammate?")).to_be_visible()
    screenshot("context-member-remove-confirm")
    page.get_by_role("link", name="Cancel").click()
    page.wait_for_url(members_url)
    expect(page.locator("tbody td:first-child", has_text="teammate")).to_have_count(1)

    page.get_by_role("link", name="Remove… teammate").click()
    page.get_by_role("button", name="Remove teammate").click()
    page.wait_for_url(members_url)
    expect(page.locator(".msg-success")).to_have_text("Removed teammate.")

    page.get_by_role("link", name="Remove… owner").click()  # the last owner
    page.get_by_role("button", name="Remove owner").click()
    page.wait_for_url(members_url)  # not left on the POST URL
    expect(page.locator(".messages .msg-error")).to_contain_text("at least one owner")
    screenshot("context-member-remove-refused")
    page.reload()  # a plain GET: nothing is posted again, the message was shown once
    expect(page.locator(".messages .msg-error")).to_have_count(0)
    expect(page.locator("tbody td:first-child", has_text="owner")).to_have_count(1)


def test_a_finished_run_refreshes_health_and_recent_runs(
    page, live_server, login, screenshot, owner, account
):
    office = OfficeFactory(account=account, name="Lakeside Family Dental", status="never_polled")
    CustomerKeyFactory(office=office)
    run = PollRunFactory(office=office, outcome=RunOutcome.RUNNING, finished_at=None)
    login("owner")
    page.goto(f"{live_server.url}/offices/{office.public_id}/")
    health = page.locator("#health-card")
    runs = page.locator("#runs-card tbody")
    expect(health.get_by_role("button", name="Poll now")).to_be_disabled()
    expect(runs).to_contain_text("Running")
    # The worker finishes the run and records the office's health.
    run.outcome, run.finished_at, run.requests = RunOutcome.OK, timezone.now(), 3
    run.save()
    Office.objects.filter(pk=office.pk).update(
        status="ok", latency_ms=1234, last_success_at=timezone.now(), program_version="24.3.1"
    )
    expect(health).to_contain_text("1234 ms", timeout=10_000)  # no reload
    expect(health).to_contain_text("24.3.1")
    expect(health.get_by_role("button", name="Poll now")).to_be_enabled()
    expect(runs.locator("tr").first).to_contain_text("OK")
    expect(runs.locator("tr").first.locator("td.num").first).to_have_text("3")
    screenshot("context-run-finished-refreshes-office")


def _fill_new_office(page, live_server, name: str) -> None:
    page.goto(f"{live_server.url}/offices/new/")
    page.fill("#id_name", name)
    page.fill("#id_time_zone", "America/Chicago")


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_a_triple_click_on_save_adds_one_office(
    browser, live_server, screenshot, owner, account, javascript
):
    context = browser.new_context(java_script_enabled=javascript)
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("#id_username", "owner")
        page.fill("#id_password", "pw-for-tests-1")
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server.url}/")
        _fill_new_office(page, live_server, "Triple Click Dental")
        page.get_by_role("button", name="Save").click(click_count=3)
        page.wait_for_url("**/offices/*-*/")
        expect(page.get_by_role("heading", name="Triple Click Dental")).to_be_visible()
        assert Office.objects.filter(name="Triple Click Dental").count() == 1

        # A second form with the same name: a field error with the box to tick.
        _fill_new_office(page, live_server, "Triple Click Dental")
        page.get_by_role("button", name="Save").click()
        expect(page.locator("#name-errors")).to_contain_text("already has an office named")
        expect(page.locator("#id_name")).to_have_value("Triple Click Dental")
        # The fixture shoots its own page; this test's page is in its own context.
        shot = screenshot(f"context-office-same-name-{'js' if javascript else 'nojs'}")
        page.screenshot(path=str(shot), full_page=True)
        page.get_by_label("Add a second office with this name").check()
        page.get_by_role("button", name="Save").click()
        page.wait_for_url("**/offices/*-*/")
        assert Office.objects.filter(name="Triple Click Dental").count() == 2
    finally:
        context.close()
