"""Small helpers shared by the dashboard views (partials, sort headers)."""

from __future__ import annotations

import uuid
from typing import Any

from django.core.paginator import Page, Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers


def wants_partial(request: HttpRequest) -> bool:
    """An htmx request that swaps a fragment (history restores need the whole page)."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.history_restore_request


def render_page(
    request: HttpRequest, template: str, context: dict[str, Any], partial: str, status: int = 200
) -> HttpResponse:
    """Render the page, or its named partial for htmx; the answer varies on HX-Request."""
    name = f"{template}#{partial}" if wants_partial(request) else template
    response = render(request, name, context, status=status)
    patch_vary_headers(response, ("HX-Request",))
    return response


class DeferredJoinPaginator(Paginator):
    """Pages of a sorted queryset found on narrow rows, then loaded in full (a 'deferred join').

    The ORDER BY ... LIMIT/OFFSET runs in a subquery that returns only the page's primary keys,
    so the sort carries ids and sort keys, not every row's joined columns; the outer query loads
    the full rows (select_related, annotations) of those keys only. Still one query a page.
    """

    def _get_page(self, object_list, number: int, paginator: Paginator) -> Page:
        page_keys = object_list.values("pk")  # object_list: the sliced queryset of this page
        return super()._get_page(self.object_list.filter(pk__in=page_keys), number, paginator)


def sort_headers(
    request: HttpRequest, columns: list[tuple[str, str, str]], sort: str, desc: bool
) -> list[dict[str, Any]]:
    """Column headers with the link that sorts by them (toggling direction) and aria-sort."""
    headers = []
    for key, label, css in columns:
        params = request.GET.copy()
        for reset in ("page", "after", "before"):  # a new order starts at the first page
            params.pop(reset, None)
        params["sort"] = key
        params["dir"] = "asc" if (key == sort and desc) or key != sort else "desc"
        if key != sort and css == "num":
            params["dir"] = "desc"  # money columns: biggest first
        current = "descending" if desc else "ascending"
        headers.append(
            {
                "key": key,
                "label": label,
                "css": css,
                "url": f"?{params.urlencode()}",
                "aria_sort": current if key == sort else "",
            }
        )
    return headers


_UNITS = ((86400 * 365, "year"), (86400 * 30, "month"), (86400 * 7, "week"), (86400, "day"),
          (3600, "hour"), (60, "minute"))  # fmt: skip


def _ago(moment, now) -> str:
    """'3 hours' / '2 days': the largest unit, like timesince but without its per-call cost."""
    seconds = max(0, int((now - moment).total_seconds()))
    for size, unit in _UNITS:
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return "0 minutes"


def office_rows_prepare(offices) -> None:
    """Format office table rows in Python (office list, overview): a template filter per
    cell (url, timesince, date) dominated those pages."""
    now = timezone.now()
    placeholder = uuid.UUID(int=0)
    url = reverse("office_detail", args=[placeholder])
    for office in offices:
        office.detail_url = url.replace(str(placeholder), str(office.public_id))
        office.status_since_ago = ""
        if office.status_since:
            since = timezone.localtime(office.status_since)
            office.status_since_ago = _ago(office.status_since, now)
            office.status_since_iso = since.isoformat()
            office.status_since_title = since.strftime("%Y-%m-%d %H:%M")
        if office.last_success_at:
            local = timezone.localtime(office.last_success_at)
            office.last_success_ago = _ago(office.last_success_at, now)
            office.last_success_iso = local.isoformat()
            office.last_success_title = local.strftime("%Y-%m-%d %H:%M")
        office.aging_total_text = f"{office.aging_total:,.2f}"
