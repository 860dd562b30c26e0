"""Access checks: one place decides who may see and who may change an account's objects."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from integrations.accounts.models import ACTING_ROLES, DeveloperAccount, Membership, Role


def role_in(request: HttpRequest, account: DeveloperAccount) -> str | None:
    """The user's role in the account (cached per request), or None."""
    cache = request.__dict__.setdefault("_odportal_roles", {})
    if account.pk not in cache:
        cache[account.pk] = (
            Membership.objects.filter(account=account, user=request.user)
            .values_list("role", flat=True)
            .first()
        )
    return cache[account.pk]


def can_act(request: HttpRequest, account: DeveloperAccount) -> bool:
    """Owners and operators change things; viewers only look."""
    return role_in(request, account) in ACTING_ROLES


def require_actor(request: HttpRequest, account: DeveloperAccount) -> None:
    """403 for a viewer posting an action (objects of other teams already 404 in selectors)."""
    if not can_act(request, account):
        raise PermissionDenied("Viewers cannot change this account.")


def require_owner(request: HttpRequest, account: DeveloperAccount) -> None:
    """403 unless the user owns the account (members and roles, account keys)."""
    if role_in(request, account) != Role.OWNER:
        raise PermissionDenied("Only an owner can do this.")


def is_owner(account: DeveloperAccount, user) -> bool:
    """Whether ``user`` owns the account (for services, which have no request)."""
    return Membership.objects.filter(account=account, user=user, role=Role.OWNER).exists()
