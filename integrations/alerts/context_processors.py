"""Every signed-in page knows whether odportal itself is healthy (the banner in base.html)."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils import timezone
from django.utils.functional import SimpleLazyObject

from integrations.alerts.services.heartbeats import system_health as _system_health


def system_health(request: HttpRequest) -> dict:
    """``system_health``, read (one small query) only when a page asks for it."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    return {"system_health": SimpleLazyObject(lambda: _system_health(now=timezone.now()))}
