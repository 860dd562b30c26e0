"""Overview: office health at a glance, the offices that need someone to act, receivables."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from integrations import selectors


@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    """Counts by status, offices needing attention (worst first) and receivables totals."""
    user = request.user
    context = {
        "status_counts": selectors.office_status_counts(user),
        "attention": selectors.offices_needing_attention(user, limit=50),
        "attention_total": selectors.offices_needing_attention_count(user),
        "totals": selectors.receivables_totals(user),
        "has_accounts": selectors.accounts_for_user(user).exists(),
    }
    context["office_total"] = sum(row["count"] for row in context["status_counts"])
    return render(request, "integrations/overview.html", context)
