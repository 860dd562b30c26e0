"""Developer accounts: create, update, requested permissions, members."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.views.decorators.debug import sensitive_variables

from integrations.accounts.models import (
    ApiResource,
    DeveloperAccount,
    Membership,
    RequestedPermission,
    Role,
)
from integrations.accounts.services.audit import audit_record
from integrations.opendental.keys import KEY_RULE, is_key
from odportal.lib import crypto

ACCOUNT_FIELDS = (
    "company_name",
    "contact_phone",
    "billing_email",
    "billing_address",
    "third_party_developer_name",
    "third_party_developer_email",
    "app_description",
    "dev_name",
    "portal_access",
)


@sensitive_variables("value")
def _set_secret(account: DeveloperAccount, field: str, value: str | None, label: str) -> bool:
    """Encrypt a key into ``<field>_encrypted``; None leaves it, '' clears it. True if changed."""
    if value is None:
        return False
    value = value.strip()
    if value and not is_key(value):
        raise ValidationError({f"{field}": f"{label}: {KEY_RULE}"})
    setattr(account, f"{field}_encrypted", crypto.encrypt(value) if value else "")
    setattr(account, f"{field}_last4", crypto.last4(value) if value else "")
    return True


@transaction.atomic
@sensitive_variables("developer_key", "portal_key")
def developer_account_create(
    *,
    actor: AbstractBaseUser,
    developer_key: str | None = None,
    portal_key: str | None = None,
    **fields: Any,
) -> DeveloperAccount:
    """Create an account, make ``actor`` its owner, and audit it."""
    account = DeveloperAccount(**{k: v for k, v in fields.items() if k in ACCOUNT_FIELDS})
    _set_secret(account, "developer_key", developer_key, "Developer key")
    _set_secret(account, "portal_key", portal_key, "Developer Portal key")
    account.full_clean()
    account.save()
    Membership.objects.create(account=account, user=actor, role=Role.OWNER)
    audit_record(account=account, actor=actor, action="account.create", obj=account)
    return account


@transaction.atomic
@sensitive_variables("developer_key", "portal_key")
def developer_account_update(
    *,
    account: DeveloperAccount,
    actor: AbstractBaseUser,
    developer_key: str | None = None,
    portal_key: str | None = None,
    **fields: Any,
) -> DeveloperAccount:
    """Update account details and, when given, replace its keys; audit changed field names only."""
    changed = [k for k, v in fields.items() if k in ACCOUNT_FIELDS and getattr(account, k) != v]
    for name in changed:
        setattr(account, name, fields[name])
    if _set_secret(account, "developer_key", developer_key, "Developer key"):
        changed.append("developer_key")
    if _set_secret(account, "portal_key", portal_key, "Developer Portal key"):
        changed.append("portal_key")
    account.full_clean()
    account.save()
    if changed:
        audit_record(
            account=account,
            actor=actor,
            action="account.update",
            obj=account,
            detail={"fields": sorted(changed)},
        )
    return account


@transaction.atomic
def requested_permissions_set(
    *,
    account: DeveloperAccount,
    actor: AbstractBaseUser,
    matrix: dict[str, dict[str, bool]],
) -> list[RequestedPermission]:
    """Replace the requested-permissions matrix: {resource: {read, create, update}}."""
    valid = set(ApiResource.values)
    unknown = sorted(set(matrix) - valid)
    if unknown:
        raise ValidationError(f"Unknown Open Dental resource(s): {', '.join(unknown)}")
    rows = []
    for resource in ApiResource.values:
        flags = matrix.get(resource, {})
        row, _ = RequestedPermission.objects.update_or_create(
            account=account,
            resource=resource,
            defaults={
                "can_read": bool(flags.get("read")),
                "can_create": bool(flags.get("create")),
                "can_update": bool(flags.get("update")),
            },
        )
        rows.append(row)
    RequestedPermission.objects.filter(
        account=account, can_read=False, can_create=False, can_update=False
    ).delete()
    audit_record(
        account=account,
        actor=actor,
        action="account.permissions",
        obj=account,
        detail={"matrix": {r: f for r, f in sorted(matrix.items()) if any(f.values())}},
    )
    return [r for r in rows if r.can_read or r.can_create or r.can_update]


@transaction.atomic
def membership_set(
    *, account: DeveloperAccount, actor: AbstractBaseUser, user: AbstractBaseUser, role: str
) -> Membership:
    """Add a member or change their role; an account always keeps at least one owner."""
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}."})
    _lock_members(account)
    membership, created = Membership.objects.get_or_create(
        account=account, user=user, defaults={"role": role}
    )
    if not created and membership.role != role:
        _ensure_owner_remains(account, membership, role)
        membership.role = role
        membership.save(update_fields=["role"])
    audit_record(
        account=account,
        actor=actor,
        action="member.set",
        obj=account,
        detail={"user": user.get_username(), "role": role, "added": created},
    )
    return membership


@transaction.atomic
def membership_remove(
    *, account: DeveloperAccount, actor: AbstractBaseUser, user: AbstractBaseUser
) -> None:
    """Remove a member; the last owner cannot be removed."""
    _lock_members(account)
    membership = Membership.objects.get(account=account, user=user)
    _ensure_owner_remains(account, membership, None)
    membership.delete()
    audit_record(
        account=account,
        actor=actor,
        action="member.remove",
        obj=account,
        detail={"user": user.get_username()},
    )


def _lock_members(account: DeveloperAccount) -> None:
    """Hold the account's row until the transaction ends, so its member changes run one at a
    time: two owners demoting or removing each other at once must not both count the other as
    the owner who remains. (SQLite's IMMEDIATE transactions serialise writers anyway.)"""
    list(DeveloperAccount.objects.select_for_update().filter(pk=account.pk).values_list("pk"))


def _ensure_owner_remains(account: DeveloperAccount, membership: Membership, role: str | None):
    if membership.role != Role.OWNER or role == Role.OWNER:
        return
    others = Membership.objects.filter(account=account, role=Role.OWNER).exclude(pk=membership.pk)
    if not others.exists():
        raise ValidationError({"role": "An account must keep at least one owner."})


def portal_key_plaintext(account: DeveloperAccount) -> str:
    """Decrypt the Developer Portal key for a portal call; never store or display the result."""
    return crypto.decrypt(account.portal_key_encrypted) if account.portal_key_encrypted else ""


def developer_key_plaintext(account: DeveloperAccount) -> str:
    """Decrypt the developer key for an API call; never store or display the result."""
    return (
        crypto.decrypt(account.developer_key_encrypted) if account.developer_key_encrypted else ""
    )
