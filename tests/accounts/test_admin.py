"""The admin shows members and audit events but cannot add, change or delete them: roles change
only through the services (an owner always remains, every change is audited)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from integrations.accounts.models import AuditEvent, DeveloperAccount, Membership, Role


@pytest.fixture
def event(account, owner):
    return AuditEvent.objects.create(
        account=account, actor=owner, action="account.update", object_type="account",
        object_id=str(account.public_id), object_repr=str(account),
    )  # fmt: skip


def _membership(account, owner):
    return Membership.objects.get(account=account, user=owner)


@pytest.mark.parametrize("model", ["membership", "auditevent"])
def test_members_and_audit_events_are_shown_but_not_added_changed_or_deleted(
    admin_client, account, owner, event, model
):
    obj = _membership(account, owner) if model == "membership" else event
    change = reverse(f"admin:accounts_{model}_change", args=[obj.pk])
    assert admin_client.get(reverse(f"admin:accounts_{model}_changelist")).status_code == 200
    page = admin_client.get(change)
    assert page.status_code == 200 and b'name="_save"' not in page.content  # view only
    assert admin_client.get(reverse(f"admin:accounts_{model}_add")).status_code == 403
    assert admin_client.post(change, {"role": Role.VIEWER, "action": "x"}).status_code == 403
    delete = reverse(f"admin:accounts_{model}_delete", args=[obj.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert _membership(account, owner).role == Role.OWNER
    assert AuditEvent.objects.filter(pk=event.pk, action="account.update").exists()


def test_an_account_with_members_cannot_be_deleted_in_the_admin(admin_client, account, owner):
    delete = reverse("admin:accounts_developeraccount_delete", args=[account.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403  # its members go too
    assert DeveloperAccount.objects.filter(pk=account.pk).exists()
