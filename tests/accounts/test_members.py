"""Members and roles: the owner changes roles and removes; one owner always remains.
(Joining is by invitation: test_invitations.py.)"""

from __future__ import annotations

import time

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.urls import reverse

from integrations.accounts.models import Membership, Role
from integrations.accounts.services import accounts
from tests.factories import MembershipFactory, UserFactory
from tests.helpers import POSTGRES_ONLY, at_once


def _url(name, account, *args):
    return reverse(name, args=[account.public_id, *args])


def test_owner_changes_a_role(client, account, owner, teammate):
    client.force_login(owner)
    client.post(_url("account_member_role", account, "teammate"), {"role": Role.OPERATOR})
    assert Membership.objects.get(account=account, user=teammate).role == Role.OPERATOR


def test_last_owner_cannot_be_demoted_and_sees_why(client, account, owner):
    client.force_login(owner)
    response = client.post(
        _url("account_member_role", account, "owner"), {"role": Role.VIEWER}, follow=True
    )
    # Post/redirect/get: the refusal is a message on the members page, not a page at the POST
    # URL that a reload would post again.
    assert response.redirect_chain == [(_url("account_members", account), 302)]
    assert "at least one owner" in response.content.decode()
    assert Membership.objects.get(account=account, user=owner).role == Role.OWNER


def test_last_owner_cannot_be_removed_and_lands_on_the_members_page(client, account, owner):
    client.force_login(owner)
    response = client.post(_url("account_member_remove", account, "owner"), follow=True)
    assert response.redirect_chain == [(_url("account_members", account), 302)]
    assert "at least one owner" in response.content.decode()
    assert Membership.objects.filter(account=account, user=owner).exists()


def test_remove_asks_first_and_the_question_removes_nobody(client, account, owner, teammate):
    client.force_login(owner)
    members = client.get(_url("account_members", account)).content.decode()
    confirm_url = _url("account_member_remove", account, "teammate")
    # The members page links to the question; it has no form that removes at once.
    assert f'href="{confirm_url}"' in members
    assert f'action="{confirm_url}"' not in members
    response = client.get(confirm_url)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Remove teammate?" in html and f'action="{confirm_url}"' in html
    assert Membership.objects.filter(account=account, user=teammate).exists()


def test_only_owners_are_asked_to_remove(client, account, teammate, outsider, owner):
    url = _url("account_member_remove", account, "owner")
    client.force_login(teammate)
    assert client.get(url).status_code == 403
    client.force_login(outsider)
    assert client.get(url).status_code == 404


def test_owner_removes_a_member(client, account, owner, teammate):
    client.force_login(owner)
    response = client.post(_url("account_member_remove", account, "teammate"))
    assert response.status_code == 302
    assert not Membership.objects.filter(account=account, user=teammate).exists()
    client.force_login(teammate)
    assert client.get(_url("account_detail", account)).status_code == 404


def test_with_a_second_owner_the_first_can_step_down(client, account, owner, teammate):
    Membership.objects.filter(account=account, user=teammate).update(role=Role.OWNER)
    client.force_login(owner)
    response = client.post(_url("account_member_role", account, "owner"), {"role": Role.VIEWER})
    assert response.status_code == 302
    assert Membership.objects.get(account=account, user=owner).role == Role.VIEWER


def test_invalid_role_is_rejected(client, account, owner, teammate):
    client.force_login(owner)
    response = client.post(_url("account_member_role", account, "teammate"), {"role": "admin"})
    assert response.status_code == 400
    assert Membership.objects.get(account=account, user=teammate).role == Role.VIEWER


@pytest.mark.skipif(connection.vendor != "postgresql", reason=POSTGRES_ONLY)
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("a_does", ["demote", "remove"])
@pytest.mark.parametrize("b_does", ["demote", "remove"])
def test_two_owners_demoting_or_removing_each_other_at_once_leave_an_owner(
    monkeypatch, a_does, b_does
):
    check = accounts._ensure_owner_remains

    def slow_check(*args):  # widen the gap between "another owner remains" and the write
        check(*args)
        time.sleep(0.05)

    monkeypatch.setattr(accounts, "_ensure_owner_remains", slow_check)

    def change(does: str, account, actor, user):
        if does == "remove":
            return lambda: accounts.membership_remove(account=account, actor=actor, user=user)
        return lambda: accounts.membership_set(
            account=account, actor=actor, user=user, role=Role.VIEWER
        )

    for _ in range(15):
        a, b = UserFactory(), UserFactory()
        account = MembershipFactory(user=a, role=Role.OWNER).account
        MembershipFactory(account=account, user=b, role=Role.OWNER)
        raised = at_once([change(a_does, account, a, b), change(b_does, account, b, a)])
        assert Membership.objects.filter(account=account, role=Role.OWNER).exists()
        refused = [e for e in raised if e is not None]
        assert len(refused) == 1 and isinstance(refused[0], ValidationError), raised
