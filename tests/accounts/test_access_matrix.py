"""Every account page tried by the owner, a teammate (viewer) and an outsider."""

from __future__ import annotations

import pytest
from django.urls import reverse

GET_PAGES = [
    "account_detail",
    "account_permissions",
    "account_portal_request",
    "account_audit",
    "account_audit_csv",
    "account_members",
]
ACTOR_PAGES = ["account_edit", "account_import"]  # forms only operators and owners may use
POSTS = [
    ("account_edit", {}),
    ("account_permissions", {"Patients__read": "on"}),
    ("account_portal_request", {}),
    ("account_import", {}),
    ("account_invite", {"email": "new@example.com", "role": "viewer"}),
]
MEMBER_POSTS = [("account_member_role", {"role": "viewer"}), ("account_member_remove", {})]


def test_pages_need_login(client, account):
    for name in GET_PAGES + ACTOR_PAGES:
        response = client.get(reverse(name, args=[account.public_id]))
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))
    assert client.get(reverse("account_list")).status_code == 302


@pytest.mark.parametrize("name", GET_PAGES)
def test_owner_and_teammate_see_pages_outsider_gets_404(
    client, account, owner, teammate, outsider, name
):
    url = reverse(name, args=[account.public_id])
    for user in (owner, teammate):
        client.force_login(user)
        assert client.get(url).status_code == 200
    client.force_login(outsider)
    assert client.get(url).status_code == 404


@pytest.mark.parametrize("name", ACTOR_PAGES)
def test_action_forms_are_200_for_owner_403_for_viewer_404_for_outsider(
    client, account, owner, teammate, outsider, name
):
    url = reverse(name, args=[account.public_id])
    expected = {owner: 200, teammate: 403, outsider: 404}
    for user, status in expected.items():
        client.force_login(user)
        assert client.get(url).status_code == status


@pytest.mark.parametrize(("name", "data"), POSTS)
def test_viewer_posting_gets_403_outsider_404(client, account, teammate, outsider, name, data):
    url = reverse(name, args=[account.public_id])
    client.force_login(teammate)
    assert client.post(url, data).status_code == 403
    client.force_login(outsider)
    assert client.post(url, data).status_code == 404


@pytest.mark.parametrize(("name", "data"), MEMBER_POSTS)
def test_member_changes_are_owner_only(client, account, owner, teammate, outsider, name, data):
    url = reverse(name, args=[account.public_id, "teammate"])
    client.force_login(teammate)
    assert client.post(url, data).status_code == 403
    client.force_login(outsider)
    assert client.post(url, data).status_code == 404
    client.force_login(owner)
    assert client.post(url, data).status_code == 302


def test_member_of_another_account_is_404_for_owner(client, account, owner, outsider):
    client.force_login(owner)
    url = reverse("account_member_remove", args=[account.public_id, "outsider"])
    assert client.post(url).status_code == 404


def test_account_list_shows_only_own_accounts(client, account, owner, outsider):
    client.force_login(outsider)
    assert account.company_name not in client.get(reverse("account_list")).content.decode()
    client.force_login(owner)
    assert account.company_name in client.get(reverse("account_list")).content.decode()


def test_viewer_sees_no_action_buttons(client, account, teammate):
    client.force_login(teammate)
    pages = {
        "account_detail": ["Edit details", "Import offices"],
        "account_permissions": ["Save permissions", 'type="checkbox"'],
        "account_portal_request": ["Mark as requested"],
        "account_members": ["Send invitation", "Remove", "Revoke"],
    }
    for name, absent in pages.items():
        body = client.get(reverse(name, args=[account.public_id])).content.decode()
        for text in absent:
            assert text not in body, (name, text)


def test_owner_sees_action_buttons(client, account, owner):
    client.force_login(owner)
    body = client.get(reverse("account_detail", args=[account.public_id])).content.decode()
    assert "Edit details" in body and "Import offices" in body
    body = client.get(reverse("account_members", args=[account.public_id])).content.decode()
    assert "Send invitation" in body and "Remove" in body


def test_account_list_query_count_is_fixed(client, owner, django_assert_num_queries):
    from tests.factories import DeveloperAccountFactory, MembershipFactory, OfficeFactory

    for _ in range(5):
        acc = MembershipFactory(user=owner).account
        OfficeFactory.create_batch(2, account=acc)
    DeveloperAccountFactory()
    client.force_login(owner)
    # session, user, accounts with office counts and roles, the banner's heartbeats
    with django_assert_num_queries(4):
        response = client.get(reverse("account_list"))
    assert response.content.decode().count("/developer-accounts/") >= 6
