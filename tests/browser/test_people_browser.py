"""People in a real browser, mail over real SMTP: an owner invites, the invitee opens the mailed
link and creates a login; someone who forgot their password resets it from the login page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from integrations.accounts.models import Membership, Role
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _mailed_link(smtp, pattern: str) -> str:
    body = smtp.messages[-1].get_payload(decode=True).decode()
    return re.search(pattern, body).group(0)


def test_invite_accept_with_a_new_login(page, live_server, login, screenshot, account, owner, smtp):
    login("owner")
    page.goto(f"{live_server.url}/developer-accounts/{account.public_id}/members/")
    page.fill("#id_email", "dana@example.com")
    page.select_option("#id_role", Role.OPERATOR)
    page.get_by_role("button", name="Send invitation").click()
    expect(page.locator(".messages")).to_contain_text("Invitation sent to dana@example.com")
    expect(page.locator("#invitations")).to_contain_text("dana@example.com")
    screenshot("people-invitation-sent")
    link = _mailed_link(smtp, r"http://\S+/invitations/\S+/")
    assert not Membership.objects.filter(account=account, user__username="dana").exists()

    page.get_by_role("button", name="Log out").click()
    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Join {account.company_name}")
    page.fill("#id_username", "dana")
    page.fill("#id_password1", "a-Long-pass-42")
    page.fill("#id_password2", "a-Long-pass-42")
    screenshot("people-invitation-accept")
    page.get_by_role("button", name="Create login and join").click()
    expect(page.locator(".messages")).to_contain_text(f"You joined {account.company_name}")
    assert Membership.objects.get(account=account, user__username="dana").role == Role.OPERATOR


def test_forgotten_password_is_reset_from_the_mailed_link(page, live_server, screenshot, smtp):
    UserFactory(username="robin", email="robin@example.com")
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_role("link", name="Forgot your password?").click()
    page.fill("#id_email", "robin@example.com")
    page.get_by_role("button", name="Send reset link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
    page.goto(_mailed_link(smtp, r"http://\S+/accounts/password/reset/\S+/"))
    page.fill("#id_new_password1", "a-Fresh-pass-77")
    page.fill("#id_new_password2", "a-Fresh-pass-77")
    screenshot("people-password-reset")
    page.get_by_role("button", name="Set password").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Password set")
    page.get_by_role("link", name="Log in").last.click()
    page.fill("#id_username", "robin")
    page.fill("#id_password", "a-Fresh-pass-77")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
