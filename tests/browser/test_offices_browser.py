"""Office pages in headless Chromium: live search, sort, add and disable a key, aging report."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.factories import (
    AgingSnapshotFactory,
    ClinicFactory,
    CustomerKeyFactory,
    OfficeFactory,
    make_current,
    make_rows,
    random_key,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def offices(account):
    found = OfficeFactory(account=account, name="Lakeside Family Dental", reference="lake-01")
    for name, status in [("Bright Smiles", "ok"), ("Cedar Dental", "econnector_down")]:
        OfficeFactory(account=account, name=name, status=status)
    snap = AgingSnapshotFactory(office=found)
    ClinicFactory(office=found, clinic_num=1, abbr="North")
    make_rows(snap, 120, clinics=(0, 1))
    make_current(found, snap)
    return found


def test_search_sort_add_and_disable_a_key(page, live_server, login, screenshot, owner, offices):
    login("owner")
    page.goto(f"{live_server.url}/offices/")
    rows = page.locator("#office-results tbody tr")
    assert rows.count() == 3
    page.locator("#id_q").press_sequentially("lake")
    page.wait_for_url("**q=lake**")
    expect(rows).to_have_count(1)
    assert "Lakeside" in rows.first.inner_text()
    page.fill("#id_q", "")
    page.locator("#id_q").press("End")  # search runs on keyup
    expect(rows).to_have_count(3)
    page.get_by_role("link", name="Office", exact=True).click()
    page.wait_for_url("**sort=name&dir=desc**")
    expect(rows.first).to_contain_text("Lakeside")
    screenshot("offices-list")

    page.get_by_role("link", name="Lakeside Family Dental").click()
    page.wait_for_url(f"**/offices/{offices.public_id}/")
    plaintext = random_key()
    if page.locator("details.add-key").get_attribute("open") is None:
        page.locator("details.add-key summary").click()
    page.fill("#id_customer_key", "tooshort")
    page.click("#key-add-form button[type=submit]")
    page.locator("#key-errors").wait_for()
    assert page.input_value("#id_customer_key") == ""
    page.fill("#id_customer_key", plaintext)
    page.click("#key-add-form button[type=submit]")
    page.get_by_text(f"Key …{plaintext[-4:]} added").wait_for()
    assert plaintext not in page.content()
    screenshot("office-detail")

    page.get_by_role("link", name="Disable…").click()
    page.fill("#id_reason", "office closed")
    screenshot("key-disable-confirm")
    page.get_by_role("button", name="Disable key").click()
    # No Developer Portal key on the account: the message says the change is local.
    page.get_by_text(f"Key …{plaintext[-4:]} disabled in odportal only").wait_for()
    expect(page.locator("td", has_text="Disabled by developer")).to_have_count(1)

    page.get_by_role("link", name="Aging report").click()
    page.locator("svg.bar-chart").wait_for()
    page.get_by_role("link", name="PatNum").click()
    page.wait_for_url("**sort=pat_num**")
    screenshot("aging-report")


def test_move_a_key_by_searching_for_the_office(
    page, live_server, login, screenshot, owner, offices
):
    key = CustomerKeyFactory(office=offices)
    for n in range(30):
        OfficeFactory(account=offices.account, name=f"Branch {n:02d}")
    login("owner")
    page.goto(f"{live_server.url}/offices/{offices.public_id}/")
    page.get_by_role("link", name="Move…").click()
    choices = page.locator("#move-choices input[type=radio]")
    expect(choices).to_have_count(25)
    page.locator("#move-q").press_sequentially("cedar")
    expect(choices).to_have_count(1)
    page.get_by_label("Cedar Dental").check()
    page.fill("#id_reason", "office merged")
    screenshot("key-move-search")
    page.get_by_role("button", name="Move key").click()
    page.locator(".msg-success").get_by_text(f"Key …{key.last4} moved to Cedar Dental").wait_for()
