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

import ipaddress
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
# Where a proxy in front of gunicorn connects from: loopback, private networks (RFC 1918,
# Docker's and most container networks), shared address space (RFC 6598) and IPv6 unique-local.
# A request from any other address reached gunicorn directly, and its X-Forwarded-For is the
# client's own claim. (Not ipaddress's is_private: that includes the documentation ranges.)
PROXY_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in ("127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
              "::1/128", "fc00::/7")
)  # fmt: skip


def client_ip(request: HttpRequest | None) -> str | None:
    """The client's address: REMOTE_ADDR or, from behind ``TRUSTED_PROXIES`` proxies, the one
    the outermost of them saw (that many X-Forwarded-For entries from the right). A request
    that does not come from a ``PROXY_NETWORKS`` address, or a value that is not an IP
    address, leaves X-Forwarded-For unread; never an error."""
    if request is None:
        return None
    remote = _ip_address(request.META.get("REMOTE_ADDR") or "")
    proxies = settings.TRUSTED_PROXIES
    if not proxies or remote is None or not any(remote in net for net in PROXY_NETWORKS):
        return str(remote) if remote is not None else None
    forwarded = [e.strip() for e in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [e for e in forwarded if e]
    if not forwarded:
        return str(remote)
    # Fewer entries than proxies: the request entered at an inner proxy, which wrote them all.
    client = _ip_address(forwarded[-min(proxies, len(forwarded))])
    return str(client if client is not None else remote)


def _ip_address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:10.0.0.1 is 10.0.0.1
    return mapped or address


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
