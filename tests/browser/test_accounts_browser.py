"""Developer accounts in a real browser: create, tick permissions, read the portal request."""

from unittest import mock

import pytest
from playwright.sync_api import expect

from integrations.offices import tasks
from integrations.offices.models import ImportJob
from integrations.offices.services import imports
from tests.factories import AuditEventFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_create_account_tick_permissions_and_open_portal_request(
    page, live_server, login, screenshot
):
    UserFactory(username="vendor")
    login("vendor")
    page.get_by_role("link", name="Developer accounts").click()
    page.get_by_role("link", name="New developer account").click()
    page.fill("#id_company_name", "Acme Dental Apps")
    page.fill("#id_contact_phone", "+1 555 0199")
    page.fill("#id_billing_email", "billing@acme.example")
    page.fill("#id_billing_address", "1 Main St\nSpringfield, IL 62701")
    page.fill("#id_app_description", "Appointment reminders and A/R aging dashboards.")
    page.fill("#id_dev_name", "Acme O'Brien Apps")
    page.fill("#id_developer_key", "NFF6i0KrXrxDkZHt")
    screenshot("accounts-create-form")
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url("**/developer-accounts/*/")
    assert page.get_by_text("…DkZHt").count() == 0 and page.get_by_text("…kZHt").count() == 1
    screenshot("accounts-detail")

    page.get_by_role("link", name="Requested permissions").click()
    for box in ("Patients__read", "Appointments__read", "Appointments__create", "Queries__read"):
        page.check(f"#id_{box}")
    page.get_by_role("button", name="Save permissions").click()
    page.wait_for_selector("text=Requested permissions saved.")
    assert page.is_checked("#id_Appointments__create")
    screenshot("accounts-permissions")

    page.get_by_role("link", name="Continue to the portal request").click()
    body = page.input_value("#email-body")
    assert "Company / product owner: Acme Dental Apps" in body
    assert "- Appointments: read, create" in body and "- Patients: read" in body
    sql = page.inner_text("#lookup-sql")
    assert sql == "SELECT CustApiKey FROM apikey WHERE DevName='Acme O''Brien Apps';"
    mailto = page.get_by_role("link", name="Open in your email program").get_attribute("href")
    assert mailto.startswith("mailto:vendor.relations@opendental.com?subject=Developer%20Portal")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_role("button", name="Copy email text").click()
    page.wait_for_selector(".copy-status:has-text('Copied.')")
    screenshot("accounts-portal-request")

    page.get_by_role("link", name="Import offices").click()
    csv_text = (
        "name;customer_key;api_mode;base_url;time_zone\n"
        "North Clinic;AAAAbbbbCCCCdddd;remote;;America/Chicago\n"
        "Bad Clinic;short;remote;;Mars/Base\n"
    )
    page.set_input_files(
        "#id_file",
        files=[{"name": "offices.csv", "mimeType": "text/csv", "buffer": csv_text.encode()}],
    )
    with mock.patch.object(imports.app, "send_task"):  # no worker: the test runs the job
        page.get_by_role("button", name="Import").click()
        page.wait_for_url("**/imports/**")
    page.wait_for_selector("#import-job :text('Queued')")
    tasks.import_job_task(ImportJob.objects.get().pk)
    page.wait_for_selector("text=2 rows: 1 created, 0 skipped, 1 rejected")  # polled in
    assert "AAAAbbbbCCCCdddd" not in page.content()
    screenshot("accounts-import")

    page.get_by_role("link", name="Audit log").click()
    page.fill("#id_q", "North")
    page.wait_for_selector("#audit-table :text('2 events')")  # htmx swapped the table
    assert "q=North" in page.url  # hx-push-url keeps the filter in the address
    screenshot("accounts-audit")
    page.get_by_role("link", name="Members").click()
    screenshot("accounts-members")


def test_back_after_filtering_the_audit_log_restores_the_whole_page(
    page, live_server, login, screenshot, account, owner
):
    for name in ("North Clinic", "South Clinic"):
        AuditEventFactory(account=account, object_repr=name)
    login("owner")
    page.goto(f"{live_server.url}/developer-accounts/{account.public_id}/audit/")
    # htmx keeps 10 pages in sessionStorage; without the cache, Back must ask the server (an
    # HX-History-Restore-Request), as it does once an entry has fallen out of the cache.
    page.evaluate("htmx.config.historyCacheSize = 0")
    table = page.locator("#audit-table")
    page.fill("#id_q", "North")
    page.wait_for_url("**q=North**")
    expect(table).to_contain_text("1 event")
    page.fill("#id_q", "South")  # away from the North filter: a new history entry
    page.wait_for_url("**q=South**")
    with page.expect_request(lambda r: r.headers.get("hx-history-restore-request") == "true"):
        page.go_back()
    page.wait_for_url("**q=North**")
    expect(table).to_contain_text("North Clinic")
    expect(page.locator("header.topbar nav")).to_be_visible()
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    expect(page.locator("form.filters #id_q")).to_be_visible()
    expect(page.locator("#audit-table")).to_have_count(1)
    screenshot("accounts-audit-back")
