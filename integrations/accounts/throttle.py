"""Login with throttling: failed logins are recorded and, past a limit, refused unchecked.

After ``LOGIN_THROTTLE_MAX_FAILURES`` failures for one username, or
``LOGIN_THROTTLE_MAX_FAILURES_PER_IP`` from one address, within ``LOGIN_THROTTLE_WINDOW_S``,
further attempts are refused without the password being checked until the oldest failure leaves
the window. The admin login shares the counters. Refused attempts are recorded
too but do not extend the lock. A ``LoginAttempt`` row holds username, address and time, never the
password.

Counting is atomic: an attempt counts the recent failures and records itself as one in a
single locked step *before* its password is checked (and removes that record when the password
is right), so concurrent guesses cannot all pass the count: at most the limit of them are
checked.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.http import HttpRequest
from django.utils import timezone

from integrations.accounts.models import LoginAttempt

USERNAME_MAX = 150


def client_ip(request: HttpRequest | None) -> str | None:
    """The client's address: REMOTE_ADDR, or the proxy-appended X-Forwarded-For entry if trusted."""
    if request is None:
        return None
    address = request.META.get("REMOTE_ADDR") or None
    if settings.LOGIN_TRUST_X_FORWARDED_FOR:
        # Only the last entry was written by our proxy; earlier ones are client-supplied.
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")[-1].strip()
        address = forwarded or address
    return address


def _normalise(username: str) -> str:
    return (username or "").strip()[:USERNAME_MAX]


def login_throttled(*, username: str, ip: str | None) -> bool:
    """True when the username or the address has too many recent failures."""
    since = timezone.now() - timedelta(seconds=settings.LOGIN_THROTTLE_WINDOW_S)
    failures = LoginAttempt.objects.filter(created_at__gte=since, refused=False)
    by_user = failures.filter(username__iexact=_normalise(username)).count()
    if by_user >= settings.LOGIN_THROTTLE_MAX_FAILURES:
        return True
    return ip is not None and (
        failures.filter(ip_address=ip).count() >= settings.LOGIN_THROTTLE_MAX_FAILURES_PER_IP
    )


# pg_advisory_xact_lock(class, key) namespaces: a username's lock, an address's lock.
_LOCK_USERNAME, _LOCK_ADDRESS = 70_410, 70_411


def login_attempt_reserve(*, username: str, ip: str | None) -> LoginAttempt | None:
    """Atomically: None when the username or address is over its limit, else a failed attempt
    recorded before the password is checked (delete it when the password is right)."""
    with transaction.atomic():
        _lock_counters(username, ip)
        if login_throttled(username=username, ip=ip):
            return None
        return login_attempt_record(username=username, ip=ip)


def _lock_counters(username: str, ip: str | None) -> None:
    """Lock the username's and the address's counters until the transaction ends: PostgreSQL
    advisory locks, always in that order, so no two logins deadlock. (SQLite's IMMEDIATE
    transactions serialise writers already.)"""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        # upper(), as username__iexact compares: "Dana" and "DANA" share one counter and lock.
        sql = "SELECT pg_advisory_xact_lock(%s, hashtext(upper(%s)))"
        cursor.execute(sql, [_LOCK_USERNAME, _normalise(username)])
        if ip is not None:
            cursor.execute(sql, [_LOCK_ADDRESS, ip])


def login_attempt_record(*, username: str, ip: str | None, refused: bool = False) -> LoginAttempt:
    """Record a failed or refused login (username, address, time; never the password)."""
    return LoginAttempt.objects.create(
        username=_normalise(username), ip_address=ip, refused=refused
    )


THROTTLED_MESSAGE = (
    "Too many failed logins for this username or from your network. "
    "Wait %(minutes)d minutes, then try again."
)


class _ThrottleMixin:
    """For AuthenticationForm subclasses: refuse throttled attempts before the password check."""

    def clean(self):
        username = self.cleaned_data.get("username")
        if username is None or self.cleaned_data.get("password") is None:
            return super().clean()  # field errors already explain what is missing
        ip = client_ip(self.request)
        attempt = login_attempt_reserve(username=username, ip=ip)
        if attempt is None:
            login_attempt_record(username=username, ip=ip, refused=True)
            raise ValidationError(
                THROTTLED_MESSAGE,
                code="throttled",
                params={"minutes": max(1, settings.LOGIN_THROTTLE_WINDOW_S // 60)},
            )
        cleaned = super().clean()  # a wrong password raises: the reserved failure stays
        attempt.delete()
        return cleaned

    @property
    def throttled(self) -> bool:
        return any(e.code == "throttled" for e in self.errors.as_data().get("__all__", []))


class ThrottledAuthenticationForm(_ThrottleMixin, AuthenticationForm):
    """The login form of the dashboard."""


class ThrottledAdminAuthenticationForm(_ThrottleMixin, AdminAuthenticationForm):
    """The admin's login form, throttled by the same counters (it is a second door)."""


class ThrottledLoginView(LoginView):
    """The login page; a refused (throttled) attempt answers 429."""

    form_class = ThrottledAuthenticationForm
    redirect_authenticated_user = True

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.throttled:
            response.status_code = 429
        return response


def login_attempts_prune(*, now=None) -> int:
    """Drop failed-login records past their retention (they only serve throttling and review)."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.LOGIN_ATTEMPT_RETENTION_DAYS)
    deleted, _ = LoginAttempt.objects.filter(created_at__lt=cutoff).delete()
    return deleted
