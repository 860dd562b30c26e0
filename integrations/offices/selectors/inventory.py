"""The Developer Portal inventory page: the four kinds of mismatch between what Open Dental
lists for an account and the keys odportal tracks."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.http import Http404
from django.utils import timezone

from integrations.accounts.models import DeveloperAccount
from integrations.offices.models import (
    PROBLEM_STATUSES,
    CustomerKey,
    KeyStatus,
    PortalKey,
    PortalSync,
)
from integrations.offices.pricing import SOURCE as PRICING_SOURCE
from integrations.offices.pricing import PriceTier, tier_for


@dataclass
class Inventory:
    """One account's reconciliation, each list a kind of mismatch."""

    sync: PortalSync | None
    listed: int = 0
    # Enabled at Open Dental (billed once assigned) and tracked by no office, not marked known.
    untracked: list[PortalKey] = field(default_factory=list)
    # Tracked and enabled here, but Open Dental reports it disabled or does not list it.
    gone_there: list[CustomerKey] = field(default_factory=list)
    # Enabled (billed) at Open Dental, its office failing for more than ``idle_days``.
    idle_billed: list[tuple[PortalKey, CustomerKey]] = field(default_factory=list)
    # Disabled here by the developer, still enabled at Open Dental.
    disabled_here: list[tuple[PortalKey, CustomerKey]] = field(default_factory=list)
    idle_days: int = 0


def account_inventory(account: DeveloperAccount) -> Inventory:
    """The account's mismatches as of its last sync (nothing before the first one)."""
    sync = PortalSync.objects.filter(account=account).first()
    result = Inventory(sync=sync, idle_days=settings.PORTAL_IDLE_BILLED_DAYS)
    if sync is None or sync.synced_at is None:
        return result
    listed = {p.key_hash: p for p in PortalKey.objects.filter(account=account)}
    tracked = list(
        CustomerKey.objects.filter(office__account=account).select_related("office").order_by("id")
    )
    result.listed = len(listed)
    _classify(result, listed, tracked)
    return result


def _classify(result: Inventory, listed: dict, tracked: list[CustomerKey]) -> None:
    failing_since = timezone.now() - timedelta(days=result.idle_days)
    hashes = {k.key_hash for k in tracked}
    result.untracked = [p for h, p in listed.items() if h not in hashes and p.is_enabled]
    result.untracked = [p for p in result.untracked if not p.known]
    for key in tracked:
        there = listed.get(key.key_hash)
        usable = key.status in (KeyStatus.ENABLED, KeyStatus.PENDING_MOVE)
        if usable and key.is_current and (there is None or not there.is_enabled):
            result.gone_there.append(key)
        if there is None or not there.is_enabled:
            continue
        office = key.office
        failing = office.status in PROBLEM_STATUSES and office.status_since
        if key.is_current and failing and office.status_since < failing_since:
            result.idle_billed.append((there, key))
        if key.status == KeyStatus.DISABLED_BY_DEVELOPER and not key.portal_action:
            result.disabled_here.append((there, key))


def get_portal_key(account: DeveloperAccount, public_id) -> PortalKey:
    """One listed key of the account; 404 otherwise."""
    found = PortalKey.objects.filter(account=account, public_id=public_id).first()
    if found is None:
        raise Http404("No such key at Open Dental.")
    return found


@dataclass
class Billing:
    """An account's Open Dental bill as odportal can estimate it."""

    tier: PriceTier
    permissions: list[str]
    billed: list[PortalKey]
    idle_billed: list[tuple[PortalKey, CustomerKey]]
    synced: bool
    source: str = PRICING_SOURCE

    @property
    def monthly_estimate(self) -> Decimal:
        return self.tier.monthly * len(self.billed)


def account_billing(account: DeveloperAccount, permissions: set[str]) -> Billing:
    """Keys enabled and assigned at Open Dental (billed), the tier ``permissions`` (those the
    account's requests need) imply, the monthly estimate, and the billed keys whose office
    fails."""
    found = account_inventory(account)
    billed = [
        p
        for p in PortalKey.objects.filter(account=account).order_by("date_created", "id")
        if p.is_enabled and p.date_time_assigned is not None
    ]
    synced = found.sync is not None and found.sync.synced_at is not None
    return Billing(tier_for(permissions), sorted(permissions), billed, found.idle_billed, synced)
