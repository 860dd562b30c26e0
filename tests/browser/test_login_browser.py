import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_login_then_overview_lists_the_office(page, live_server, login, screenshot, owner, office):
    page.goto(f"{live_server.url}/")
    assert "/accounts/login/" in page.url
    login("owner")
    assert page.locator("h1").first.inner_text() == "Overview"
    assert page.get_by_role("link", name=office.name).is_visible()
    screenshot("overview")
