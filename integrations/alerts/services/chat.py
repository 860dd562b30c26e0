"""Chat channels through Apprise (https://github.com/caronc/apprise): one URL names the
service and carries its tokens (``slack://T/B/C``, ``msteams://...``, ``discord://...``).

Only the schemes below are accepted: named services go to their vendor's public host (no
self-hosted ones, whose host the user would give unguarded), and the generic JSON one, whose
host the user gives, must pass the deployment's network guard (checked when saved and again
before each send; Apprise connects with its own HTTP client, so a name that re-resolves in
between is the remaining gap [U]).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import apprise
from django.conf import settings

from integrations.opendental import network

SERVICE_SCHEMES = frozenset({
    "slack", "msteams", "discord", "gchat", "tgram", "pover",
})  # fmt: skip
HOST_SCHEMES = frozenset({"json", "jsons"})


def chat_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a chat channel, or None."""
    scheme = urlsplit(url).scheme.lower()
    if scheme not in SERVICE_SCHEMES | HOST_SCHEMES:
        known = ", ".join(sorted(SERVICE_SCHEMES | HOST_SCHEMES))
        return f"Use an Apprise URL of one of: {known}."
    if not apprise.Apprise().add(url):
        return "Apprise cannot read this URL: check its tokens against the Apprise docs."
    if scheme in HOST_SCHEMES:
        return _host_problem(url)
    return None


def _host_problem(url: str) -> str | None:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "jsons" else 80)
    guard = network.NetworkGuard.from_strings(settings.ODPORTAL_ALLOWED_NETWORKS)
    try:
        guard.addresses(parts.hostname or "", port)
    except network.AddressNotAllowed as exc:
        return f"Messages may not go to {parts.hostname} ({exc}): see ODPORTAL_ALLOWED_NETWORKS."
    except OSError:
        return f"The host {parts.hostname!r} does not resolve."
    return None


def chat_send(url: str, *, title: str, body: str) -> str | None:
    """Send one message; None when the service took it, else what Apprise said."""
    problem = _host_problem(url) if urlsplit(url).scheme.lower() in HOST_SCHEMES else None
    if problem:
        return problem
    notifier = apprise.Apprise()
    notifier.add(url)
    with apprise.LogCapture(level=apprise.logging.WARNING) as log:
        ok = notifier.notify(title=title, body=body)
    if ok:
        return None
    return " ".join(log.getvalue().split())[:400] or "The chat service did not take the message."
