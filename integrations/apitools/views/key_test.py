"""'Test this key' on the office page (owners and operators)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_POST

from integrations.apitools.services.key_test import key_test
from integrations.offices.views._access import office_for_user
from odportal.lib.htmx import render_page


@require_POST
def key_test_run(request: HttpRequest, public_id) -> HttpResponse:
    """Run GET /securityperms and the version preference with the office's current key."""
    office, _ = office_for_user(request, public_id, write=True)
    context = {"office": office, "test": key_test(office=office)}
    return render_page(request, "apitools/key_test.html", context, "result")
