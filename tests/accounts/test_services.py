import pytest
from django.core.exceptions import ValidationError

from integrations.accounts.models import AuditEvent, Membership, RequestedPermission, Role
from integrations.accounts.services import accounts
from integrations.offices.services import offices
from odportal.lib import crypto
from tests.factories import UserFactory

VALID = dict(
    company_name="Acme Dental Apps",
    contact_phone="+1 555 0101",
    billing_email="ap@acme.example",
    billing_address="1 Road\nTown",
    app_description="Syncs appointments.",
    dev_name="Acme Dental Apps",
)


def test_create_account_encrypts_keys_makes_actor_owner_and_audits(db):
    user = UserFactory()
    account = accounts.developer_account_create(
        actor=user, developer_key="NFF6i0KrXrxDkZHt", portal_key="AbCdEfGh12345678", **VALID
    )
    assert account.developer_key_last4 == "kZHt"
    assert "NFF6i0KrXrxDkZHt" not in account.developer_key_encrypted
    assert crypto.decrypt(account.portal_key_encrypted) == "AbCdEfGh12345678"
    assert Membership.objects.get(account=account).role == Role.OWNER
    assert AuditEvent.objects.filter(account=account, action="account.create").exists()


def test_create_account_reports_each_invalid_field(db):
    with pytest.raises(ValidationError) as exc:
        accounts.developer_account_create(
            actor=UserFactory(), **{**VALID, "billing_email": "not-an-email", "company_name": ""}
        )
    assert {"billing_email", "company_name"} <= set(exc.value.message_dict)


def test_create_account_rejects_a_malformed_developer_key(db):
    with pytest.raises(ValidationError) as exc:
        accounts.developer_account_create(actor=UserFactory(), developer_key="abc", **VALID)
    assert "16 letters and digits" in str(exc.value)


def test_update_audits_changed_field_names_but_not_values(account, owner):
    accounts.developer_account_update(
        account=account, actor=owner, contact_phone="+1 555 0199", developer_key="AbCdEfGh12345678"
    )
    event = AuditEvent.objects.get(action="account.update")
    assert event.detail == {"fields": ["contact_phone", "developer_key"]}
    assert "AbCdEfGh12345678" not in str(event.detail)


def test_requested_permissions_matrix_is_replaced(account, owner):
    accounts.requested_permissions_set(
        account=account, actor=owner, matrix={"Patients": {"read": True, "update": True}}
    )
    accounts.requested_permissions_set(
        account=account, actor=owner, matrix={"Queries": {"read": True}}
    )
    rows = list(
        RequestedPermission.objects.filter(account=account).values_list("resource", "can_read")
    )
    assert rows == [("Queries", True)]


def test_requested_permissions_reject_unknown_resources(account, owner):
    with pytest.raises(ValidationError, match="Unknown"):
        accounts.requested_permissions_set(
            account=account, actor=owner, matrix={"Bogus": {"read": True}}
        )


def test_last_owner_cannot_be_demoted_or_removed(account, owner):
    with pytest.raises(ValidationError, match="owner"):
        accounts.membership_set(account=account, actor=owner, user=owner, role=Role.VIEWER)
    with pytest.raises(ValidationError, match="owner"):
        accounts.membership_remove(account=account, actor=owner, user=owner)


def test_members_can_be_added_and_their_roles_changed(account, owner):
    user = UserFactory()
    accounts.membership_set(account=account, actor=owner, user=user, role=Role.VIEWER)
    accounts.membership_set(account=account, actor=owner, user=user, role=Role.OPERATOR)
    assert Membership.objects.get(account=account, user=user).role == Role.OPERATOR


def test_office_create_needs_a_server_for_service_mode_and_validates(account, owner):
    with pytest.raises(ValidationError) as exc:
        offices.office_create(account=account, actor=owner, name="North", api_mode="service")
    assert "server's address" in exc.value.message_dict["base_url"][0]
    with pytest.raises(ValidationError) as exc:
        offices.office_create(
            account=account,
            actor=owner,
            name="Bad",
            api_mode="local",
            base_url="https://example.com/x",
            time_zone="Mars/Base",
        )
    assert {"base_url", "time_zone"} <= set(exc.value.message_dict)
