"""Dashboard views: thin, reading through selectors and writing through services."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from integrations import selectors


def overview(request: HttpRequest) -> HttpResponse:
    """The user's developer accounts and their offices."""
    accounts = selectors.accounts_for_user(request.user).order_by("company_name")
    offices = selectors.offices_for_user(request.user).order_by("account__company_name", "name")
    return render(request, "integrations/overview.html", {"accounts": accounts, "offices": offices})


def office_detail(request: HttpRequest, public_id) -> HttpResponse:
    """One office: settings, keys (last-4 only) and cached health."""
    office = selectors.get_office_for_user(request.user, public_id)
    return render(request, "integrations/office_detail.html", {"office": office})
