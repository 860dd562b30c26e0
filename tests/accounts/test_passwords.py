"""Password change and reset through Django's own views; the reset mail goes over real SMTP."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from tests.factories import UserFactory

NEW = "a-Fresh-pass-77"
pytestmark = pytest.mark.django_db


def _reset_link(smtp) -> str:
    body = smtp.messages[-1].get_payload(decode=True).decode()
    return re.search(r"http://testserver(/accounts/password/reset/\S+/)", body).group(1)


def test_reset_link_is_mailed_and_sets_a_new_password(client, smtp):
    user = UserFactory(username="robin", email="robin@example.com")
    login = client.get(reverse("login")).content.decode()
    assert reverse("password_reset") in login
    response = client.post(reverse("password_reset"), {"email": "robin@example.com"})
    assert response.status_code == 302 and response.url == reverse("password_reset_done")
    [message] = smtp.messages
    assert message["X-Rcpt-To"] == "robin@example.com"
    assert message["Subject"] == "odportal: reset your password"

    form = client.get(_reset_link(smtp), follow=True)
    assert "Set a new password" in form.content.decode()
    set_url = form.redirect_chain[-1][0]
    done = client.post(set_url, {"new_password1": NEW, "new_password2": NEW})
    assert done.status_code == 302 and done.url == reverse("password_reset_complete")
    user.refresh_from_db()
    assert user.check_password(NEW)
    # The link works once.
    again = client.get(_reset_link(smtp), follow=True).content.decode()
    assert "does not work" in again


def test_reset_for_an_unknown_address_looks_the_same_and_sends_nothing(client, smtp):
    response = client.post(reverse("password_reset"), {"email": "nobody@example.com"})
    assert response.status_code == 302 and response.url == reverse("password_reset_done")
    assert smtp.messages == []


def test_weak_new_password_is_refused_on_the_field(client, smtp):
    UserFactory(username="robin", email="robin@example.com")
    client.post(reverse("password_reset"), {"email": "robin@example.com"})
    set_url = client.get(_reset_link(smtp), follow=True).redirect_chain[-1][0]
    response = client.post(set_url, {"new_password1": "12345678", "new_password2": "12345678"})
    assert response.status_code == 200
    assert response.context["form"].errors["new_password2"]


def test_signed_in_user_changes_password_from_the_header(client):
    user = UserFactory(username="robin")
    client.force_login(user)
    overview = client.get(reverse("overview")).content.decode()
    assert reverse("password_change") in overview
    wrong = client.post(
        reverse("password_change"),
        {"old_password": "not-it", "new_password1": NEW, "new_password2": NEW},
    )
    assert wrong.status_code == 200 and wrong.context["form"].errors["old_password"]
    response = client.post(
        reverse("password_change"),
        {"old_password": "pw-for-tests-1", "new_password1": NEW, "new_password2": NEW},
    )
    assert response.status_code == 302 and response.url == reverse("password_change_done")
    user.refresh_from_db()
    assert user.check_password(NEW)
    # Still signed in on this session.
    assert client.get(reverse("password_change_done")).status_code == 200


def test_password_change_needs_login(client):
    response = client.get(reverse("password_change"))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))
