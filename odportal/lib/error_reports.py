"""The filter behind Django's error reports: the DEBUG error page and the reports to ADMINS.

Django's own filter hides settings named like secrets (``*KEY*``, ``*PASS*``, ...) and, only
with DEBUG off, the POST fields a view marks ``sensitive_post_parameters`` and the locals a
function marks ``sensitive_variables``. This one also
- applies those marks with DEBUG on: the demo and development hold real keys too, and a
  deployment that turned DEBUG on by mistake must not show them on its error pages;
- masks the password inside URLs (``DATABASE_URL``, ``REDIS_URL``, ``CELERY_BROKER_URL``) in
  the settings and in ``request.META``, which under runserver holds the whole environment;
- hides every frame local whose text contains the value of a marked POST field, so frames that
  no decorator reaches (Django's form cleaning, a view that forgot one) do not show it either.
"""

from __future__ import annotations

import re
from typing import Any

from django.http import HttpRequest
from django.views.debug import SafeExceptionReporterFilter

# scheme://user:PASSWORD@host -> scheme://user:********@host (and scheme://:PASSWORD@host)
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)[^@\s]+(?=@)")
MASKED = "********"
# Shorter POST values (checkboxes, choices) would hide half the page and protect nothing.
_MIN_SECRET_LENGTH = 8


def mask_url_passwords(text: str) -> str:
    """Replace the password of every ``scheme://user:password@host`` in ``text``."""
    return _URL_PASSWORD.sub(rf"\g<head>{MASKED}", text)


class MaskingExceptionReporterFilter(SafeExceptionReporterFilter):
    """Django's safe filter, always active, also masking URL passwords and posted secrets."""

    def is_active(self, request: HttpRequest | None) -> bool:
        return True

    def cleanse_setting(self, key: Any, value: Any) -> Any:
        cleansed = super().cleanse_setting(key, value)  # recurses through self for nested values
        return mask_url_passwords(cleansed) if isinstance(cleansed, str) else cleansed

    def get_traceback_frame_variables(self, request: HttpRequest | None, tb_frame) -> Any:
        variables = super().get_traceback_frame_variables(request, tb_frame)
        secrets = _posted_secrets(request)
        if not secrets:
            return variables
        return [
            (name, self.cleansed_substitute if _shows_any(value, secrets) else value)
            for name, value in variables
        ]


def _posted_secrets(request: HttpRequest | None) -> list[str]:
    """The values of the POST fields the view marked sensitive (all of them for ``__ALL__``)."""
    marked = getattr(request, "sensitive_post_parameters", None)
    if not marked:
        return []
    names = request.POST.keys() if marked == "__ALL__" else marked
    values = (v for name in names for v in request.POST.getlist(name))
    return [v for v in values if isinstance(v, str) and len(v.strip()) >= _MIN_SECRET_LENGTH]


def _shows_any(value: Any, secrets: list[str]) -> bool:
    try:
        text = value if isinstance(value, str) else repr(value)
    except Exception:  # the report itself notes a value it cannot print
        return False
    return any(secret.strip() in text for secret in secrets)
