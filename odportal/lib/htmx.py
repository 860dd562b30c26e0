"""htmx helpers shared by the dashboard views: one predicate for "render the partial"."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import patch_vary_headers
from django_htmx.http import HttpResponseClientRedirect


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


def redirect_page(request: HttpRequest, url: str) -> HttpResponse:
    """Go to ``url`` after a form succeeds: htmx is told to load it (HX-Redirect), others 302."""
    if wants_partial(request):
        return HttpResponseClientRedirect(url)
    return redirect(url)
