"""Overview: office health at a glance, the offices that need someone to act, receivables."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from integrations.accounts import selectors as account_selectors
from integrations.offices.selectors import offices as selectors
from integrations.offices.views._rows import office_rows_prepare


@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    """Counts by status, offices needing attention (worst first) and receivables totals."""
    user = request.user
    summary = selectors.overview_summary(user)
    attention = selectors.offices_needing_attention(user, limit=50)
    office_rows_prepare(attention)
    context = {
        "status_counts": summary.status_counts,
        "attention": attention,
        "attention_total": summary.attention_total,
        "totals": summary.totals,
        "office_total": sum(row["count"] for row in summary.status_counts),
    }
    context["has_accounts"] = context["office_total"] > 0 or (
        account_selectors.accounts_for_user(user).exists()
    )
    return render(request, "offices/overview.html", context)
