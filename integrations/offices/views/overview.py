"""Overview: office health at a glance, the open incidents (loaded in), receivables."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from integrations.accounts import selectors as account_selectors
from integrations.offices.selectors import offices as selectors


@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    """Counts by status and receivables totals; the open incidents load into the page from
    the alerts app (offices never import it)."""
    user = request.user
    summary = selectors.overview_summary(user)
    context = {
        "status_counts": summary.status_counts,
        "attention_total": summary.attention_total,
        "totals": summary.totals,
        "office_total": sum(row["count"] for row in summary.status_counts),
    }
    context["has_accounts"] = context["office_total"] > 0 or (
        account_selectors.accounts_for_user(user).exists()
    )
    return render(request, "offices/overview.html", context)
