"""Bulk actions in headless Chromium: tick rows on the office list, pause their polling, follow
the job's progress (polled in by htmx, no reload) until it is done and polling stops.

The test plays the worker (the job run as a function while the page watches). Viewers see no
tick boxes; the page size and jump-to-page controls move through the list without a reload.
"""

from __future__ import annotations

from unittest import mock

import pytest
from playwright.sync_api import expect

from integrations.accounts.models import AuditEvent
from integrations.offices.models import BulkJob, Office
from integrations.offices.services import bulk
from tests.browser.conftest import SCREENSHOTS
from tests.factories import OfficeFactory, bulk_offices

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_ticked_rows_are_paused_by_one_job_whose_progress_is_polled_in(
    page, live_server, login, screenshot, owner, account
):
    for name in ("Alpha Dental", "Bravo Dental", "Charlie Dental"):
        OfficeFactory(account=account, name=name)
    login("owner")
    page.goto(f"{live_server.url}/offices/")
    page.get_by_label("Pick Alpha Dental").check()
    page.get_by_label("Pick Charlie Dental").check()
    screenshot("bulk-ticked")
    with mock.patch.object(bulk.app, "send_task"):  # no worker: this test runs the job
        page.locator("#bulk-form").get_by_role("button", name="Pause polling").click()
        page.wait_for_url("**/bulk-jobs/**")
    job = BulkJob.objects.get()
    panel = page.locator("#bulk-job")
    expect(panel).to_contain_text("Pause polling on 2 ticked offices")
    expect(panel).to_contain_text("Queued")
    bulk.bulk_job_run(job.pk, claimer="task-1")
    expect(panel).to_contain_text("2 of 2 offices (100%) · 2 done, 0 skipped, 0 failed")
    expect(page.locator("#bulk-progress")).to_have_attribute("value", "100")
    screenshot("bulk-done")
    paused = set(Office.objects.filter(polling_enabled=False).values_list("name", flat=True))
    assert paused == {"Alpha Dental", "Charlie Dental"}
    assert AuditEvent.objects.filter(action="bulk.pause").count() == 1

    polls: list[str] = []
    page.on("request", lambda request: polls.append(request.url))
    page.wait_for_timeout(2500)
    assert polls == []  # 286: htmx stopped polling


def test_page_size_and_jump_to_page_move_through_a_big_list(
    page, live_server, login, screenshot, owner, account
):
    bulk_offices(account, 130)
    login("owner")
    page.goto(f"{live_server.url}/offices/")
    page.select_option("#id_per_page", "25")
    expect(page.locator("#office-results")).to_contain_text("Page 1 of 6")
    page.fill("#jump-page", "4")
    page.get_by_role("button", name="Go", exact=True).click()
    expect(page.locator("#office-results")).to_contain_text("Page 4 of 6")
    expect(page.get_by_role("link", name="Bulk office 00075")).to_be_visible()
    assert "per_page=25" in page.url and "page=4" in page.url
    screenshot("office-list-page-4-of-25")


def test_a_viewer_sees_no_tick_boxes(page, live_server, login, teammate, office):
    login("teammate")
    page.goto(f"{live_server.url}/offices/")
    expect(page.get_by_role("link", name=office.name)).to_be_visible()
    expect(page.locator("#bulk-form")).to_have_count(0)
    expect(page.locator("input[name=office]")).to_have_count(0)


def test_the_header_box_picks_the_page_and_export_gives_their_csv(
    page, live_server, login, owner, account
):
    bulk_offices(account, 30)
    login("owner")
    page.goto(f"{live_server.url}/offices/?per_page=25")
    page.get_by_label("Pick every office of this page").check()
    expect(page.locator('input[name="office"]:checked')).to_have_count(25)
    with mock.patch.object(bulk.app, "send_task"):
        page.locator("#bulk-form").get_by_role("button", name="Export", exact=True).click()
        page.wait_for_url("**/bulk-jobs/**")
    job = BulkJob.objects.get()
    assert job.total == 25
    bulk.bulk_job_run(job.pk, claimer="task-1")
    link = page.get_by_role("link", name="Download the CSV (25 offices)")
    with page.expect_download() as download:
        link.click()
    assert download.value.suggested_filename.startswith("offices-")


def test_the_bulk_bar_and_jump_form_fit_a_phone(browser, live_server, owner, account):
    bulk_offices(account, 60)
    context = browser.new_context(viewport={"width": 390, "height": 844})
    phone = context.new_page()
    phone.goto(f"{live_server.url}/accounts/login/")
    phone.fill("#id_username", "owner")
    phone.fill("#id_password", "pw-for-tests-1")
    phone.click("button[type=submit]")
    phone.goto(f"{live_server.url}/offices/")
    expect(phone.locator("#bulk-form")).to_be_visible()
    expect(phone.locator("#jump-page")).to_be_visible()
    wide = phone.evaluate("document.documentElement.scrollWidth")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    phone.screenshot(path=str(SCREENSHOTS / "office-list-bulk-390.png"), full_page=True)
    context.close()
    assert wide <= 390
