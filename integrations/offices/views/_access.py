"""The access check of the office pages: one call gives the office and the user's write right."""

from __future__ import annotations

from django.http import HttpRequest

from integrations.accounts import access
from integrations.offices.models import Office
from integrations.offices.selectors import offices as selectors


def office_for_user(request: HttpRequest, public_id, *, write: bool = False) -> tuple[Office, bool]:
    """The user's office (404 for other teams') and whether the user may change it; with
    ``write=True``, 403 for a viewer. The role is read once a request (``access`` caches it)."""
    office = selectors.get_office_for_user(request.user, public_id)
    if write:
        access.require_actor(request, office.account)
    return office, access.can_act(request, office.account)
