import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_login_then_overview_leads_to_the_office(
    page, live_server, login, screenshot, owner, office
):
    page.goto(f"{live_server.url}/")
    assert "/accounts/login/" in page.url
    login("owner")
    assert page.locator("h1").first.inner_text() == "Overview"
    # The overview holds counts and open incidents, not a list of offices: a new office
    # that has not failed is reached through "All offices".
    assert "(1 in all)" in page.locator("#counts-h").inner_text()
    screenshot("overview")
    page.get_by_role("link", name="All offices").click()
    assert page.get_by_role("link", name=office.name).is_visible()
