"""Table helpers shared by the list pages: sortable column headers and pagination."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Page, Paginator
from django.http import HttpRequest


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
