"""The viewer's time zone: the browser says it once in a cookie (static/js/tz.js), and each
request shows times in it (without the cookie, or with a zone Python does not know: TIME_ZONE).
Times whose subject is an office use the office's zone instead (odportal.lib.timefmt)."""

from __future__ import annotations

from urllib.parse import unquote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils import timezone

COOKIE = "odportal_tz"


def zone_from_cookie(value: str | None) -> ZoneInfo | None:
    """The named zone, or None for a missing, malformed or unknown one."""
    value = unquote(value or "")  # the script percent-encodes the "/" of "America/Chicago"
    if not value or len(value) > 64:
        return None
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return None


class ViewerTimezoneMiddleware:
    """Activate the viewer's zone for the request."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        zone = zone_from_cookie(request.COOKIES.get(COOKIE))
        if zone is None:
            timezone.deactivate()
        else:
            timezone.activate(zone)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
