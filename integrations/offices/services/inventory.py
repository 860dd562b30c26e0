"""The Developer Portal inventory: what Open Dental lists for each account (``GET /apikeys``),
stored per key and reconciled with the keys odportal tracks.

A beat task (``offices.portal_inventories``, hourly) sends one sync task per account with a
portal key; "Sync now" sends one for its account. A sync is an upsert on (account, key hash),
so a repeated or duplicated task changes nothing twice; keys Open Dental no longer lists go.
"""

from __future__ import annotations

import logging

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from integrations.accounts.models import DeveloperAccount
from integrations.accounts.services.audit import audit_record
from integrations.offices.models import CustomerKey, KeyStatus, Office, PortalKey, PortalSync
from integrations.offices.services import keys, portal
from integrations.offices.services.clients import NoKey, portal_client
from integrations.offices.services.polling.dispatch import broker_producer
from integrations.opendental import ApiKey, OpenDentalError
from odportal.celery import app
from odportal.lib import crypto

logger = logging.getLogger(__name__)

INVENTORY_TASK = "offices.portal_inventory"
WORKERS_DOWN = "Workers unavailable: the sync could not be queued. Start the workers and retry."


def portal_inventories_queue() -> int:
    """From beat: one sync task per account with a Developer Portal key."""
    accounts = DeveloperAccount.objects.exclude(portal_key_encrypted="").exclude(
        developer_key_encrypted=""
    )
    count = 0
    for account_id in accounts.values_list("pk", flat=True):
        app.send_task(INVENTORY_TASK, args=[account_id])
        count += 1
    return count


def portal_inventory_send(account: DeveloperAccount) -> None:
    """ "Sync now": hand the account's sync to the workers (ValidationError if they are away)."""
    try:
        with broker_producer() as producer:
            app.send_task(INVENTORY_TASK, args=[account.pk], retry=False, producer=producer)
    except Exception as exc:  # kombu raises many types for "broker down"
        logger.warning("could not queue inventory of account %s: %s", account.pk, exc)
        raise ValidationError(WORKERS_DOWN) from None


def portal_inventory_sync(*, account_id: int) -> int:
    """Read the account's keys at Open Dental and store them; how many were listed."""
    account = DeveloperAccount.objects.filter(pk=account_id).first()
    if account is None or not account.has_portal_key:
        return 0
    try:
        listed = portal_client(account).api_keys()
    except (OpenDentalError, NoKey) as exc:
        PortalSync.objects.update_or_create(account=account, defaults={"error": str(exc)[:2000]})
        return 0
    _store(account, listed)
    return len(listed)


@transaction.atomic
@sensitive_variables("listed")
def _store(account: DeveloperAccount, listed: list[ApiKey]) -> None:
    now, seen = timezone.now(), []
    for entry in listed:
        digest = crypto.key_hash(entry.customer_key)
        seen.append(digest)
        PortalKey.objects.update_or_create(
            account=account, key_hash=digest,
            defaults={
                "key_encrypted": crypto.encrypt(entry.customer_key),
                "last4": entry.last4, "key_status": entry.key_status,
                "date_created": entry.date_created, "date_disabled": entry.date_disabled,
                "date_time_assigned": _aware(entry.date_time_assigned),
                "dev_ref_id": entry.dev_ref_id,
                "seen_at": now,
            },
        )  # fmt: skip
        CustomerKey.objects.filter(office__account=account, key_hash=digest).update(
            portal_status=entry.key_status, portal_checked_at=now
        )
    PortalKey.objects.filter(account=account).exclude(key_hash__in=seen).delete()
    PortalSync.objects.update_or_create(account=account, defaults={"synced_at": now, "error": ""})


def _aware(moment):
    """The portal's DateTimeAssigned carries no zone; [U] read as this deployment's TIME_ZONE."""
    return timezone.make_aware(moment) if moment and timezone.is_naive(moment) else moment


def _tracked(portal_key: PortalKey) -> CustomerKey | None:
    return (
        CustomerKey.objects.select_related("office__account")
        .filter(office__account=portal_key.account, key_hash=portal_key.key_hash)
        .first()
    )


@sensitive_variables("plain")
def portal_key_adopt(
    *, portal_key: PortalKey, office: Office, actor: AbstractBaseUser
) -> CustomerKey:
    """Track a key Open Dental lists as the current key of one of the account's offices."""
    if office.account_id != portal_key.account_id:
        raise ValidationError("Choose an office of this account.")
    plain = crypto.decrypt(portal_key.key_encrypted)
    return keys.customer_key_add(office=office, key=plain, actor=actor)


@sensitive_variables("plain")
def portal_key_disable(*, portal_key: PortalKey, actor: AbstractBaseUser) -> str:
    """Disable a listed key at Open Dental. A key an office uses goes through the key's own
    Disable (pending until confirmed); any other is sent now (PUT is idempotent). Returns
    what happened, for the page."""
    tracked = _tracked(portal_key)
    if tracked is not None and tracked.status != KeyStatus.DISABLED_BY_DEVELOPER:
        portal.customer_key_disable(key=tracked, actor=actor, reason="inventory: disable")
        return f"Disabling key …{portal_key.last4} at Open Dental; its office's row shows it."
    plain = crypto.decrypt(portal_key.key_encrypted)
    try:
        portal_client(portal_key.account).api_key_update(plain, key_status="DisabledByDeveloper")
    except (OpenDentalError, NoKey) as exc:
        raise ValidationError(f"Open Dental did not disable the key: {exc}") from None
    portal_key.key_status = "DisabledByDeveloper"
    portal_key.save(update_fields=["key_status"])
    _audit(portal_key, actor, "portal_key.disable")
    return f"Key …{portal_key.last4} disabled at Open Dental."


def portal_key_mark_known(*, portal_key: PortalKey, actor: AbstractBaseUser) -> None:
    """The vendor knows this untracked key: stop listing it as unknown."""
    portal_key.known = True
    portal_key.save(update_fields=["known"])
    _audit(portal_key, actor, "portal_key.known")


def _audit(portal_key: PortalKey, actor: AbstractBaseUser, action: str) -> None:
    audit_record(
        account=portal_key.account,
        actor=actor,
        action=action,
        obj=portal_key,
        detail={"last4": portal_key.last4, "dev_ref_id": portal_key.dev_ref_id},
    )
