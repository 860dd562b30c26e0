"""Invitations: an owner invites by email over real SMTP; the person accepts from the link, as a
new login or signed in; nobody joins without accepting; owners revoke; every step is audited."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.auth import get_user_model
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from integrations.accounts.models import AuditEvent, Invitation, Membership, Role
from tests.factories import UserFactory
from tests.helpers import free_port


def _invite(client, account, email="dana@example.com", role=Role.OPERATOR):
    url = reverse("account_invite", args=[account.public_id])
    return client.post(url, {"email": email, "role": role})


def _link(smtp) -> str:
    body = smtp.messages[-1].get_payload(decode=True).decode()
    return re.search(r"http://testserver(/invitations/[^/\s]+/)", body).group(1)


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


def test_invitation_is_mailed_and_nobody_joins_before_accepting(owner_client, account, smtp):
    response = _invite(owner_client, account)
    assert response.status_code == 302
    [message] = smtp.messages
    assert message["X-Rcpt-To"] == "dana@example.com"
    assert account.company_name in message["Subject"]
    invitation = Invitation.objects.get(account=account)
    assert invitation.role == Role.OPERATOR and invitation.is_pending
    # The token travels only in the mail; the database keeps its hash.
    assert _link(smtp).split("/")[2] not in invitation.token_hash
    assert Membership.objects.filter(account=account).count() == 1  # the owner alone
    page = owner_client.get(reverse("account_members", args=[account.public_id])).content.decode()
    assert "dana@example.com" in page and "Revoke" in page
    assert AuditEvent.objects.filter(action="invitation.create").count() == 1


def test_new_person_sets_username_and_password_and_joins(owner_client, account, smtp):
    _invite(owner_client, account)
    link = _link(smtp)
    owner_client.logout()
    page = owner_client.get(link)
    assert page.status_code == 200 and "Create login and join" in page.content.decode()
    response = owner_client.post(
        link, {"username": "dana", "password1": "a-Long-pass-42", "password2": "a-Long-pass-42"}
    )
    assert response.status_code == 302
    dana = get_user_model().objects.get(username="dana")
    assert dana.email == "dana@example.com" and dana.check_password("a-Long-pass-42")
    assert Membership.objects.get(account=account, user=dana).role == Role.OPERATOR
    # Signed in by the acceptance, and the link works only once.
    assert owner_client.get(reverse("account_detail", args=[account.public_id])).status_code == 200
    assert owner_client.get(link).status_code == 404
    event = AuditEvent.objects.get(action="invitation.accept")
    assert event.actor == dana and event.detail["user"] == "dana"


def test_weak_or_mismatched_password_keeps_the_username_and_creates_nothing(
    owner_client, account, smtp
):
    _invite(owner_client, account)
    link = _link(smtp)
    owner_client.logout()
    for p1, p2 in (("12345678", "12345678"), ("a-Long-pass-42", "a-Long-pass-43")):
        response = owner_client.post(link, {"username": "dana", "password1": p1, "password2": p2})
        assert response.status_code == 400
        assert response.context["form"].errors["password2"]
        assert 'value="dana"' in response.content.decode()
    assert not get_user_model().objects.filter(username="dana").exists()
    assert Invitation.objects.get(account=account).is_pending


def test_existing_user_signs_in_and_accepts(client, owner_client, account, smtp):
    existing = UserFactory(username="lee")
    _invite(owner_client, account, email="lee@example.com", role=Role.VIEWER)
    link = _link(smtp)
    client.force_login(existing)
    page = client.get(link).content.decode()
    assert "Accept and join" in page and "lee" in page
    assert not Membership.objects.filter(account=account, user=existing).exists()
    assert client.post(link).status_code == 302
    assert Membership.objects.get(account=account, user=existing).role == Role.VIEWER


def test_signed_out_person_may_sign_in_and_come_back_to_the_link(client, owner, account, smtp):
    client.force_login(owner)
    _invite(client, account)
    link = _link(smtp)
    client.logout()
    body = client.get(link).content.decode()
    assert f"{reverse('login')}?next={link}" in body.replace("%2F", "/")


def test_revoked_or_expired_link_does_not_work(owner_client, account, smtp):
    _invite(owner_client, account)
    link = _link(smtp)
    invitation = Invitation.objects.get(account=account)
    revoke = reverse("account_invitation_revoke", args=[account.public_id, invitation.public_id])
    assert owner_client.post(revoke).status_code == 302
    assert owner_client.get(link).status_code == 404
    assert AuditEvent.objects.filter(action="invitation.revoke").count() == 1

    _invite(owner_client, account)
    link = _link(smtp)
    Invitation.objects.filter(revoked_at=None).update(expires_at=timezone.now() - dt.timedelta(1))
    owner_client.logout()
    response = owner_client.post(
        link, {"username": "dana", "password1": "a-Long-pass-42", "password2": "a-Long-pass-42"}
    )
    assert response.status_code == 404
    assert not get_user_model().objects.filter(username="dana").exists()


def test_inviting_again_replaces_the_open_invitation(owner_client, account, smtp):
    _invite(owner_client, account)
    first = _link(smtp)
    _invite(owner_client, account, role=Role.VIEWER)
    assert owner_client.get(first).status_code == 404
    assert Invitation.objects.filter(account=account, revoked_at=None).get().role == Role.VIEWER


def test_a_mail_failure_is_shown_and_no_invitation_is_kept(owner_client, account, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()  # nothing listens
    response = _invite(owner_client, account)
    assert response.status_code == 400
    assert "could not be sent" in response.context["invite_form"].errors["email"][0]
    assert 'value="dana@example.com"' in response.content.decode()
    assert not Invitation.objects.exists()
    assert not AuditEvent.objects.filter(action="invitation.create").exists()


def test_the_answer_never_tells_whether_a_username_exists(owner_client, account, smtp):
    UserFactory(username="known", email="known@example.com")
    for email in ("known@example.com", "nobody@example.com"):
        response = _invite(owner_client, account, email=email)
        assert response.status_code == 302
    assert len(smtp.messages) == 2
    with pytest.raises(NoReverseMatch):  # adding by username is gone
        reverse("account_member_add", args=[account.public_id])


def test_only_owners_invite_or_revoke(client, account, owner, teammate, outsider, smtp):
    client.force_login(owner)
    _invite(client, account)
    invitation = Invitation.objects.get()
    revoke = reverse("account_invitation_revoke", args=[account.public_id, invitation.public_id])
    for user, status in ((teammate, 403), (outsider, 404)):
        client.force_login(user)
        assert _invite(client, account, email="x@example.com").status_code == status
        assert client.post(revoke).status_code == status
    assert Invitation.objects.get().is_pending and len(smtp.messages) == 1


def test_inviting_a_member_by_their_email_is_refused(owner_client, account, teammate, smtp):
    teammate.email = "mate@example.com"
    teammate.save()
    response = _invite(owner_client, account, email="MATE@example.com")
    assert response.status_code == 400
    assert response.context["invite_form"].errors["email"]
    assert not smtp.messages
