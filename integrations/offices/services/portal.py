"""Key changes at Open Dental's Developer Portal (``/apikeys``): the Disable and Enable the
pages call. With a portal key on the account the key is marked pending (``portal_action``)
and a task (sent by name, ``KEY_PORTAL_TASK``) carries the change there; the outcome is then
applied to odportal's rows (``services.keys``). Without one, the change is local only.

Idempotent: each attempt reads ``GET /apikeys`` first and sends ``PUT`` only when Open Dental
does not already show the wanted status, so a retried or redelivered task never sends twice
what Open Dental already did. Transient faults (5xx, timeouts, unreachable) are retried by the
task with backoff, bounded by ``KEY_PORTAL_MAX_ATTEMPTS``; a permanent refusal (400, 401) or the
last failed attempt leaves the key as it was, with Open Dental's reason on its row.
"""

from __future__ import annotations

import logging
import random
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from integrations.accounts.services.audit import audit_record
from integrations.offices.models import CustomerKey, KeyStatus, Office, PortalAction
from integrations.offices.services import keys
from integrations.offices.services.clients import NoKey, portal_client
from integrations.offices.services.polling.dispatch import broker_producer
from integrations.opendental import OpenDentalError
from odportal.celery import app

logger = logging.getLogger(__name__)

# Tasks are sent by name, so this module never imports ``tasks`` (which imports it).
KEY_PORTAL_TASK = "offices.key_portal"
PORTAL_WORKERS_DOWN = "Workers unavailable: nothing was sent to Open Dental. Try again."

# What each pending action asks Open Dental for (the portal's KeyStatus values).
PORTAL_TARGET = {PortalAction.DISABLE: "DisabledByDeveloper", PortalAction.ENABLE: "Enabled"}
NOT_LISTED = "Open Dental does not list this key for the account's developer (GET /apikeys)."


class PortalRefused(Exception):
    """The portal answered, and the change cannot happen as asked (permanent)."""


@transaction.atomic
def customer_key_disable(
    *, key: CustomerKey, actor: AbstractBaseUser | None, reason: str = ""
) -> CustomerKey:
    """Disable a key: at Open Dental when the account has a portal key (pending until it
    confirms), else in odportal only."""
    if not key.office.account.has_portal_key:
        return keys.customer_key_disable(key=key, actor=actor, reason=reason)
    keys.key_disable_check(key)
    return _request(key, PortalAction.DISABLE, actor, reason)


@transaction.atomic
def customer_key_enable(
    *, key: CustomerKey, actor: AbstractBaseUser | None, reason: str = ""
) -> CustomerKey:
    """Enable a key: one the developer disabled is enabled at Open Dental first when the
    account has a portal key; otherwise (or disabled by the office or HQ) in odportal only."""
    at_od = key.status == KeyStatus.DISABLED_BY_DEVELOPER and key.office.account.has_portal_key
    if not at_od:
        return keys.customer_key_enable(key=key, actor=actor, reason=reason)
    keys.key_enable_check(key)
    return _request(key, PortalAction.ENABLE, actor, reason)


@transaction.atomic
@sensitive_variables("new_key")
def customer_key_rotate(
    *, key: CustomerKey, new_key: str, actor: AbstractBaseUser | None, reason: str = ""
) -> CustomerKey:
    """Replace a key with a new one; with a portal key on the account the old key is then
    disabled at Open Dental too (pending until confirmed; it is already disabled here)."""
    keys.key_refuse_while_pending(key)
    new = keys.customer_key_rotate(key=key, new_key=new_key, actor=actor, reason=reason)
    if key.office.account.has_portal_key:
        _request(key, PortalAction.DISABLE, actor, reason or "rotated")
    return new


@sensitive_variables("created")
def customer_key_generate(*, office: Office, actor: AbstractBaseUser | None) -> CustomerKey:
    """Create a customer key for the office at Open Dental (POST /apikeys, DevRefId = the
    office's reference, else its id) and make it the office's current key, stored encrypted.

    Sent from the request, not a task: the vendor waits for the key, and a create is retried
    only when it surely never reached Open Dental (a lost answer must not make two keys)."""
    if not office.account.has_portal_key:
        raise ValidationError("Add the account's Developer Portal key to generate keys.")
    try:
        created = portal_client(office.account).api_key_create(dev_ref_id=office_dev_ref_id(office))
    except OpenDentalError as exc:
        raise ValidationError(f"Open Dental did not create a key: {exc}") from None
    return keys.customer_key_add(office=office, key=created.customer_key, actor=actor,
                                 generated=True)  # fmt: skip


def office_dev_ref_id(office: Office) -> str:
    """The DevRefId odportal gives an office's keys: its reference label, else its id."""
    return office.reference or str(office.public_id)


def _request(
    key: CustomerKey, action: str, actor: AbstractBaseUser | None, reason: str
) -> CustomerKey:
    """Mark the key pending, audit the request, send the task once this transaction commits."""
    key.portal_action = action
    key.portal_requested_at = timezone.now()
    key.portal_requested_by = actor if getattr(actor, "is_authenticated", False) else None
    key.portal_reason = reason
    key.portal_error = ""
    key.save(update_fields=["portal_action", "portal_requested_at", "portal_requested_by",
                            "portal_reason", "portal_error"])  # fmt: skip
    audit_record(
        account=key.office.account,
        actor=actor,
        action=f"key.{action}.requested",
        obj=key,
        detail={"office": key.office.name, "last4": key.last4, "reason": reason},
    )
    transaction.on_commit(lambda: key_portal_send(key.pk))
    return key


def key_portal_resend_stale(*, limit: int = 100) -> int:
    """From beat: send again the portal changes pending longer than KEY_PORTAL_STALE_AFTER_S
    (their message lost with a broker restart, say). Safe: each attempt reads Open Dental
    first, so a second copy never sends twice what one did."""
    cutoff = timezone.now() - timedelta(seconds=settings.KEY_PORTAL_STALE_AFTER_S)
    stale = CustomerKey.objects.exclude(portal_action=PortalAction.NONE).filter(
        portal_requested_at__lt=cutoff
    )
    key_ids = list(stale.order_by("pk").values_list("pk", flat=True)[:limit])
    for key_id in key_ids:
        app.send_task(KEY_PORTAL_TASK, args=[key_id])
    CustomerKey.objects.filter(pk__in=key_ids).update(portal_requested_at=timezone.now())
    return len(key_ids)


def key_portal_send(key_id: int) -> None:
    """Hand a pending portal change to the workers; if the broker is away nothing was sent:
    the key is left as it was, and says so."""
    try:
        with broker_producer() as producer:
            app.send_task(KEY_PORTAL_TASK, args=[key_id], retry=False, producer=producer)
    except Exception as exc:  # kombu raises many types for "broker down"
        logger.warning("could not queue portal change of key %s: %s", key_id, type(exc).__name__)
        key = CustomerKey.objects.select_related("office__account").get(pk=key_id)
        keys.key_portal_end(key=key, error=PORTAL_WORKERS_DOWN)


def key_portal_apply(*, key_id: int, attempt: int = 0) -> float | None:
    """One attempt at a key's pending portal change: seconds until the next attempt when a
    transient fault should be retried, else None (confirmed, refused, or nothing pending)."""
    key = _pending_key(key_id)
    if key is None:
        return None
    try:
        reported = _converge(key, PORTAL_TARGET[PortalAction(key.portal_action)])
    except (OpenDentalError, PortalRefused, NoKey) as exc:
        return _failed(key, exc, attempt)
    _confirmed(key, reported)
    return None


def _pending_key(key_id: int) -> CustomerKey | None:
    qs = CustomerKey.objects.select_related("office__account", "portal_requested_by")
    return qs.filter(pk=key_id).exclude(portal_action=PortalAction.NONE).first()


@sensitive_variables("customer_key")
def _converge(key: CustomerKey, target: str) -> str:
    """Make Open Dental show ``target`` for the key (PUT only if it does not yet)."""
    portal = portal_client(key.office.account)
    customer_key = keys.customer_key_plaintext(key)
    listed = portal.api_key_find(customer_key)
    if listed is None:
        raise PortalRefused(NOT_LISTED)
    if listed.key_status != target:
        portal.api_key_update(customer_key, key_status=target)
    return target


def _failed(key: CustomerKey, exc: Exception, attempt: int) -> float | None:
    transient = isinstance(exc, OpenDentalError) and exc.transient
    if transient and attempt + 1 < settings.KEY_PORTAL_MAX_ATTEMPTS:
        CustomerKey.objects.filter(pk=key.pk).update(
            portal_error=f"Attempt {attempt + 1} failed, retrying: {exc}"[:2000]
        )
        return _backoff(attempt)
    prefix = "Open Dental refused" if not transient else "Open Dental did not answer"
    with transaction.atomic():
        keys.key_portal_end(key=key, error=f"{prefix}: {exc}")
    return None


def _backoff(attempt: int) -> float:
    """Full jitter, doubling per attempt, capped."""
    ceiling = min(settings.KEY_PORTAL_BACKOFF_MAX_S, settings.KEY_PORTAL_BACKOFF_S * 2**attempt)
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not a secret


@transaction.atomic
def _confirmed(key: CustomerKey, reported: str) -> None:
    """Open Dental shows the wanted status: apply it here and audit the outcome."""
    key = CustomerKey.objects.select_for_update().select_related("office__account").get(pk=key.pk)
    action, actor, reason = key.portal_action, key.portal_requested_by, key.portal_reason
    if not action:  # another copy of the task got here first
        return
    key.portal_action, key.portal_error = PortalAction.NONE, ""
    key.portal_status, key.portal_checked_at = reported, timezone.now()
    key.save(update_fields=["portal_action", "portal_error", "portal_status", "portal_checked_at"])
    if action == PortalAction.DISABLE:
        keys.key_disable_local(key=key, actor=actor, reason=reason)
        keys.key_disable_record(key=key, actor=actor, reason=reason, where="Open Dental")
    else:
        keys.key_enable_local(key=key, actor=actor)
        keys.key_enable_record(key=key, actor=actor, reason=reason, where="Open Dental")
