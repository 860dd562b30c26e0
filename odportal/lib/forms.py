"""Form helpers every view shares: bound data, service errors onto a form, the secret input."""

from __future__ import annotations

import uuid

from django import forms
from django.core import signing
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.http.request import QueryDict


def posted(request: HttpRequest) -> QueryDict | None:
    """The POST data for a bound form, or None on GET (an empty POST still validates)."""
    return request.POST if request.method == "POST" else None


def service_errors_to_form(form: forms.Form, exc: ValidationError) -> None:
    """Put a service's ValidationError on the form's fields (unknown fields go to the top)."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc.messages)
        return
    for name, errors in exc.error_dict.items():
        form.add_error(name if name in form.fields else None, errors)


_SIGNING_SALT = "odportal.form-token"
FORM_TOKEN_MAX_AGE = 24 * 3600  # a form left open overnight asks to be saved again


def form_token_new(user) -> str:
    """A signed one-time token for a form that creates something: every POST of that form
    carries the same token, so the service can add the thing once."""
    return signing.dumps({"t": uuid.uuid4().hex, "u": user.pk}, salt=_SIGNING_SALT)


def form_token_read(value: str, user) -> uuid.UUID | None:
    """The token's id if ``user`` was given it within FORM_TOKEN_MAX_AGE, else None."""
    try:
        data = signing.loads(value or "", salt=_SIGNING_SALT, max_age=FORM_TOKEN_MAX_AGE)
    except signing.BadSignature:  # also expired
        return None
    return uuid.UUID(data["t"]) if data.get("u") == user.pk else None


class SecretInput(forms.PasswordInput):
    """Write-only: never renders a value back, asks browsers not to fill it in, and sets no
    maxlength (a longer paste must be refused with the reason, never silently cut)."""

    def __init__(self) -> None:
        super().__init__(
            render_value=False,
            attrs={"autocomplete": "new-password", "spellcheck": "false"},
        )
