"""Building Open Dental clients for offices: keys decrypted just in time, one pool per process.

The pacer is shared across worker processes through Redis when ``REDIS_URL`` is set, so every
customer key stays under its Open Dental interval however many workers poll. Every client
connects through the deployment's network guard (``network_guard``: public addresses plus
``ODPORTAL_ALLOWED_NETWORKS``), checked on each address connected to, and sends to the office's
``api_base_url`` (Remote: ``OPENDENTAL_REMOTE_BASE_URL``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import cache

import httpx
from django.conf import settings
from django.db import connection

from integrations.accounts.models import DeveloperAccount
from integrations.accounts.services.accounts import developer_key_plaintext, portal_key_plaintext
from integrations.offices.models import ApiMode, CustomerKey, Office
from integrations.offices.services.keys import customer_key_plaintext
from integrations.opendental import (
    DeveloperPortalClient,
    OpenDentalClient,
    Pacer,
    pacer_from_url,
    shared_http_client,
)
from integrations.opendental.aio import AsyncOpenDentalClient, SlotBooker, async_transport
from integrations.opendental.network import NetworkGuard

CLIENT_MODES = {ApiMode.REMOTE: "Remote", ApiMode.SERVICE: "Service", ApiMode.LOCAL: "Local"}


class NoKey(Exception):
    """The office has no usable key pair (no current customer key or no developer key)."""


@cache
def _pacer(redis_url: str, margin_s: float) -> Pacer:
    return pacer_from_url(redis_url or None, margin_s=margin_s)


def network_guard() -> NetworkGuard:
    """Where this deployment's requests may go: public addresses and the listed networks."""
    return _guard(tuple(settings.ODPORTAL_ALLOWED_NETWORKS))


@cache
def _guard(networks: tuple[str, ...]) -> NetworkGuard:
    return NetworkGuard.from_strings(networks)


def office_async_transport(*, max_connections: int) -> httpx.AsyncBaseTransport:
    """The async transport for ``office_async_client``s, through the network guard."""
    return async_transport(max_connections=max_connections, guard=network_guard())


def _sleep_without_db(seconds: float) -> None:
    """Wait for a throttle slot without holding a database connection (pooled: returned)."""
    if seconds > 0.05 and settings.DB_POOL_MAX and not connection.in_atomic_block:
        connection.close()
    time.sleep(seconds)


def office_client(
    *,
    office: Office,
    key: CustomerKey | None = None,
    on_request: Callable[[str, str, int | None, float], None] | None = None,
    max_pace_wait_s: float | None = None,
    deadline_s: float | None = None,
) -> OpenDentalClient:
    """An API client for the office's current key, paced by its known permissions; a
    ``deadline_s`` shortens (never lengthens) OPENDENTAL_DEADLINE_S."""
    args, kwargs = _client_args(office, key)
    if deadline_s is not None:
        kwargs["deadline_s"] = min(deadline_s, kwargs["deadline_s"])
    return OpenDentalClient(
        *args, http_client=shared_http_client(network_guard()), on_request=on_request,
        max_pace_wait_s=max_pace_wait_s, sleep=_sleep_without_db, **kwargs,
    )  # fmt: skip


def office_async_client(
    *,
    office: Office,
    key: CustomerKey | None,
    transport: httpx.AsyncBaseTransport,
    booker: SlotBooker | None = None,
    on_request: Callable[[str, str, int | None, float], None] | None = None,
) -> AsyncOpenDentalClient:
    """``office_client`` for an event loop: requests go through ``transport``, slots are
    booked through ``booker`` (with the loop's other clients)."""
    args, kwargs = _client_args(office, key)
    return AsyncOpenDentalClient(
        *args, transport=transport, booker=booker, on_request=on_request, **kwargs
    )


def portal_client(account: DeveloperAccount) -> DeveloperPortalClient:
    """A Developer Portal client for the account, without retries of its own (the portal
    task retries with backoff, between attempts). The portal is assumed under the deployment's
    Open Dental URL (``/api/v1/apikeys``; [I], its page gives no base path)."""
    dev_key, portal_key = developer_key_plaintext(account), portal_key_plaintext(account)
    if not dev_key or not portal_key:
        raise NoKey("The account has no Developer Portal key or no developer key.")
    return DeveloperPortalClient(
        settings.OPENDENTAL_REMOTE_BASE_URL, dev_key, portal_key, max_retries=0,
        deadline_s=settings.OPENDENTAL_DEADLINE_S, http_client=shared_http_client(network_guard()),
    )  # fmt: skip


def _client_args(office: Office, key: CustomerKey | None) -> tuple[tuple, dict]:
    """Base URL, decrypted key pair and the office's client settings."""
    key = key or office.keys.filter(is_current=True).first()
    dev_key = developer_key_plaintext(office.account)
    if key is None or not dev_key:
        raise NoKey("The office has no current customer key or the account no developer key.")
    args = (office.api_base_url, dev_key, customer_key_plaintext(key))
    return args, {
        "mode": CLIENT_MODES[ApiMode(office.api_mode)],
        "deadline_s": settings.OPENDENTAL_DEADLINE_S,
        "max_response_bytes": settings.OPENDENTAL_MAX_RESPONSE_BYTES,
        "pacer": _pacer(settings.REDIS_URL, settings.OPENDENTAL_PACE_MARGIN_S),
        "permissions": frozenset(office.granted_permissions or ()),
        "throttle_scale": settings.OPENDENTAL_THROTTLE_SCALE,
        "max_retries": settings.OPENDENTAL_MAX_RETRIES,
    }
