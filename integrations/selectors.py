"""Reads for pages, always scoped to the user's developer accounts."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Prefetch, QuerySet
from django.http import Http404

from integrations.models import CustomerKey, DeveloperAccount, Membership, Office


def accounts_for_user(user: AbstractBaseUser) -> QuerySet[DeveloperAccount]:
    """Developer accounts the user is a member of."""
    return DeveloperAccount.objects.filter(membership__user=user).distinct()


def membership_for(user: AbstractBaseUser, account: DeveloperAccount) -> Membership | None:
    """The user's membership in an account, or None."""
    return Membership.objects.filter(user=user, account=account).first()


def offices_for_user(user: AbstractBaseUser) -> QuerySet[Office]:
    """Offices of the user's accounts, with the current key prefetched for last-4 display."""
    current_keys = CustomerKey.objects.filter(is_current=True)
    return (
        Office.objects.filter(account__membership__user=user)
        .select_related("account")
        .prefetch_related(Prefetch("keys", queryset=current_keys, to_attr="current_keys"))
    )


def get_office_for_user(user: AbstractBaseUser, public_id) -> Office:
    """One office of the user's accounts; 404 for anything else (no existence leak)."""
    office = offices_for_user(user).filter(public_id=public_id).first()
    if office is None:
        raise Http404("No such office.")
    return office


def get_account_for_user(user: AbstractBaseUser, public_id) -> DeveloperAccount:
    """One account the user belongs to; 404 otherwise."""
    account = accounts_for_user(user).filter(public_id=public_id).first()
    if account is None:
        raise Http404("No such developer account.")
    return account
