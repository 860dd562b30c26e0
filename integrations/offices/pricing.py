"""Open Dental's API price tiers, per location (customer key) per month: the one table.

Source: apipermissions.html, as copied 2025-11-26 (rbarfinezhadfeli0/open_dental): free with
only ApiReadAll; $15 with Comm, Documents, InsuranceSimple, Setup, Queries; $30 with all but
Payments, PayPlans and the special (*) ones; $35 with all but the special ones. Billing starts
when a key is assigned and enabled and stops when it is disabled. Which permissions the page
marks special is not in our copy ([U]): ApiEnterprise is treated as outside the tiers.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

SOURCE = "Open Dental apipermissions.html, 2025-11-26"


@dataclass(frozen=True)
class PriceTier:
    """One tier: its monthly price per location and the permissions it covers (None: any)."""

    name: str
    monthly: Decimal
    covers: frozenset[str] | None


_FIFTEEN = frozenset({"ApiComm", "ApiDocuments", "ApiInsuranceSimple", "ApiSetup", "ApiQueries"})
PRICE_TIERS = (
    PriceTier("ReadAll only", Decimal("0"), frozenset()),
    PriceTier("Basic ($15)", Decimal("15"), _FIFTEEN),
    PriceTier("Standard ($30)", Decimal("30"), None),  # all but Payments and PayPlans
    PriceTier("Full ($35)", Decimal("35"), None),
)
_PAYMENT_PERMISSIONS = frozenset({"ApiPayments", "ApiPayPlans"})
OUTSIDE_TIERS = frozenset({"ApiReadAll", "ApiEnterprise"})


def tier_for(permissions: set[str] | frozenset[str]) -> PriceTier:
    """The cheapest tier covering ``permissions`` (Open Dental permission names)."""
    paid = set(permissions) - OUTSIDE_TIERS
    for tier in PRICE_TIERS[:2]:
        if tier.covers is not None and paid <= tier.covers:
            return tier
    return PRICE_TIERS[3] if paid & _PAYMENT_PERMISSIONS else PRICE_TIERS[2]
