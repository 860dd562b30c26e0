"""An account's keys at Open Dental (the Developer Portal inventory) and the fitting action for
each mismatch: adopt into an office, disable at Open Dental, mark as known."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from integrations.accounts import access
from integrations.accounts.selectors import get_account_for_user
from integrations.accounts.views import account_page_context
from integrations.offices import forms
from integrations.offices.selectors import inventory as selectors
from integrations.offices.services import inventory as services
from integrations.offices.services.health import required_permissions
from odportal.lib.csv import csv_download

PORTAL_KEY_ACTIONS = ("adopt", "disable", "known")


@require_GET
def account_portal_keys(request: HttpRequest, public_id) -> HttpResponse:
    """What Open Dental lists for the account, against what odportal tracks."""
    account = get_account_for_user(request.user, public_id)
    offices = account.offices.order_by("name")
    ctx = account_page_context(
        request, account, "portal_keys", inventory=selectors.account_inventory(account),
        adopt_form=forms.AdoptKeyForm(offices=offices),
    )  # fmt: skip
    return render(request, "offices/portal_keys.html", ctx)


@require_POST
def account_portal_keys_sync(request: HttpRequest, public_id) -> HttpResponse:
    """ "Sync now": queue the account's inventory sync."""
    account = get_account_for_user(request.user, public_id)
    access.require_actor(request, account)
    try:
        services.portal_inventory_send(account)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "Reading the keys at Open Dental; reload in a moment.")
    return redirect("account_portal_keys", public_id=account.public_id)


@require_POST
def portal_key_action(request: HttpRequest, public_id, key_id, action: str) -> HttpResponse:
    """Adopt, disable at Open Dental, or mark as known one listed key."""
    account = get_account_for_user(request.user, public_id)
    access.require_actor(request, account)
    portal_key = selectors.get_portal_key(account, key_id)
    try:
        messages.success(request, _perform(request, account, portal_key, action))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("account_portal_keys", public_id=account.public_id)


def _perform(request: HttpRequest, account, portal_key, action: str) -> str:
    if action == "disable":
        return services.portal_key_disable(portal_key=portal_key, actor=request.user)
    if action == "known":
        services.portal_key_mark_known(portal_key=portal_key, actor=request.user)
        return f"Key …{portal_key.last4} marked as known."
    form = forms.AdoptKeyForm(request.POST, offices=account.offices.all())
    if not form.is_valid():
        raise ValidationError("Choose the office that uses this key.")
    office = form.cleaned_data["office"]
    services.portal_key_adopt(portal_key=portal_key, office=office, actor=request.user)
    return f"Key …{portal_key.last4} is now {office.name}'s current key."


def _billing(account) -> selectors.Billing:
    needed = required_permissions(list(account.requested_permissions.all()))
    return selectors.account_billing(account, needed)


@require_GET
def account_billing(request: HttpRequest, public_id) -> HttpResponse:
    """Enabled keys, the implied price tier, the monthly estimate, the idle but billed keys."""
    account = get_account_for_user(request.user, public_id)
    ctx = account_page_context(request, account, "billing", billing=_billing(account))
    return render(request, "offices/billing.html", ctx)


@require_GET
def account_billing_csv(request: HttpRequest, public_id) -> HttpResponse:
    """The billed keys as CSV: one line per key with the tier's monthly price."""
    account = get_account_for_user(request.user, public_id)
    billing = _billing(account)
    idle = {p.pk for p, _ in billing.idle_billed}
    header = ["key_last4", "dev_ref_id", "assigned", "tier", "monthly_usd", "office_failing"]
    rows = (
        [f"…{p.last4}", p.dev_ref_id, p.date_time_assigned.isoformat(), billing.tier.name,
         str(billing.tier.monthly), "yes" if p.pk in idle else "no"]
        for p in billing.billed
    )  # fmt: skip
    return csv_download(f"billing-{account.public_id}.csv", header, rows)
