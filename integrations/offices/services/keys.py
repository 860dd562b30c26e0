"""Customer keys: add, disable, enable, rotate, move. Keys are disabled, never deleted.

Disable and Enable here change odportal's rows only. ``services.portal`` is what the pages
call: with a Developer Portal key on the account it asks Open Dental first (the key pending
until confirmed) and applies the outcome through the functions here; without one it calls
these directly (and the forms say the change is local).
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from integrations.accounts.services.audit import audit_record
from integrations.offices.models import (
    CustomerKey,
    KeyStatus,
    Office,
    OfficeStatus,
    PortalAction,
)
from integrations.offices.services.status import office_status_set
from integrations.opendental.keys import key_problem
from odportal.lib import crypto


@sensitive_variables("raw", "key")
def _clean_key(raw: str) -> str:
    key = (raw or "").strip()
    if not key:
        raise ValidationError({"customer_key": "Enter the customer key."})
    problem = key_problem(key)
    if problem:
        raise ValidationError({"customer_key": problem})
    if CustomerKey.objects.filter(key_hash__in=crypto.key_hashes(key)).exists():
        raise ValidationError({"customer_key": "This customer key is already registered."})
    return key


def _retire_current(office: Office, *, except_key: CustomerKey | None = None) -> None:
    qs = CustomerKey.objects.filter(office=office, is_current=True)
    if except_key is not None:
        qs = qs.exclude(pk=except_key.pk)
    qs.update(is_current=False)


@sensitive_variables("key")
def _new_key(
    *, office: Office, key: str, actor: AbstractBaseUser | None, generated: bool = False
) -> CustomerKey:
    now = timezone.now()
    user = actor if getattr(actor, "is_authenticated", False) else None
    try:
        with transaction.atomic():
            return CustomerKey.objects.create(
                office=office,
                key_encrypted=crypto.encrypt(key),
                last4=crypto.last4(key),
                key_hash=crypto.key_hash(key),
                is_current=True,
                generated=generated,
                status=KeyStatus.ENABLED,
                enabled_at=now,
                created_by=user,
                changed_by=user,
            )
    except IntegrityError:  # a concurrent add of the same key
        raise ValidationError(
            {"customer_key": "This customer key is already registered."}
        ) from None


@transaction.atomic
@sensitive_variables("key")
def customer_key_add(
    *, office: Office, key: str, actor: AbstractBaseUser | None, generated: bool = False
) -> CustomerKey:
    """Add a key as the office's current key; an existing current key is retired (disabled).
    ``generated``: odportal created it through the Developer Portal."""
    key = _clean_key(key)
    previous = CustomerKey.objects.filter(office=office, is_current=True).first()
    if previous is not None:
        _retire_current(office)
        previous.is_current = False  # retired first: the office is not "key disabled"
        _disable(previous, actor, reason="replaced by a new key")
    new = _new_key(office=office, key=key, actor=actor, generated=generated)
    _office_key_state_changed(new)
    audit_record(
        account=office.account,
        actor=actor,
        action="key.generate" if generated else "key.add",
        obj=new,
        detail={"office": office.name, "last4": new.last4},
    )
    return new


def _disable(key: CustomerKey, actor: AbstractBaseUser | None, *, reason: str) -> None:
    key.status = KeyStatus.DISABLED_BY_DEVELOPER
    key.disabled_at = timezone.now()
    key.pending_until = None
    key.changed_by = _actor(actor)
    key.save(update_fields=["status", "disabled_at", "pending_until", "changed_by"])
    _office_key_state_changed(key)


def key_disable_local(*, key: CustomerKey, actor: AbstractBaseUser | None, reason: str) -> None:
    """Mark the key disabled by the developer in odportal's rows."""
    _disable(key, actor, reason=reason)


def _office_key_state_changed(key: CustomerKey) -> None:
    """Keep the office's status honest about its current key, and poll it soon when usable."""
    if not key.is_current:
        return
    office_qs = Office.objects.filter(pk=key.office_id)
    if key.status in (KeyStatus.ENABLED, KeyStatus.PENDING_MOVE):
        office_qs.update(next_health_at=None)
        office = office_qs.select_for_update().only("status", "status_since").get()
        # "No key" stops being true now; the first poll with the key says how it is.
        if office.status == OfficeStatus.NO_KEY and office_status_set(
            office=office, status=OfficeStatus.NEVER_POLLED, now=timezone.now(),
            error=f"Key …{key.last4} added; not polled with it yet",
        ):  # fmt: skip
            office.save(update_fields=["status", "status_since"])
        return
    office = office_qs.select_for_update().only("status", "status_since").get()
    error = f"Key …{key.last4}: {key.get_status_display()}"
    if office_status_set(office=office, status=OfficeStatus.KEY_DISABLED, now=timezone.now(),
                         error=error):  # fmt: skip
        office.save(update_fields=["status", "status_since"])


def _actor(actor: AbstractBaseUser | None) -> AbstractBaseUser | None:
    return actor if getattr(actor, "is_authenticated", False) else None


def key_refuse_while_pending(key: CustomerKey) -> None:
    """A key with a portal change on its way takes no other change until Open Dental answers."""
    if key.portal_action:
        raise ValidationError(
            f"{key.get_portal_action_display()} Wait for Open Dental's answer before changing it."
        )


def _office_without_key(office: Office, error: str) -> None:
    """The office's current key went elsewhere: it cannot be polled until it gets one."""
    office = Office.objects.select_for_update().only("status", "status_since").get(pk=office.pk)
    if office_status_set(office=office, status=OfficeStatus.NO_KEY, now=timezone.now(),
                         error=error):  # fmt: skip
        office.save(update_fields=["status", "status_since"])


@transaction.atomic
def customer_key_disable(
    *, key: CustomerKey, actor: AbstractBaseUser | None, reason: str = ""
) -> CustomerKey:
    """Disable a key (by the developer) in odportal only; polling stops for it."""
    key_disable_check(key)
    _disable(key, actor, reason=reason)
    key_disable_record(key=key, actor=actor, reason=reason, where="odportal only")
    return key


def key_disable_check(key: CustomerKey) -> None:
    """ValidationError unless the key can be disabled now."""
    if key.status == KeyStatus.DISABLED_BY_DEVELOPER:
        raise ValidationError("This key is already disabled.")
    key_refuse_while_pending(key)


def key_enable_check(key: CustomerKey) -> None:
    """ValidationError unless the key can be enabled now."""
    if key.status == KeyStatus.ENABLED and key.is_current:
        raise ValidationError("This key is already enabled.")
    key_refuse_while_pending(key)


def key_disable_record(
    *, key: CustomerKey, actor: AbstractBaseUser | None, reason: str, where: str
) -> None:
    """Audit a disable that took effect (``where``: "odportal only" or "Open Dental")."""
    audit_record(
        account=key.office.account,
        actor=actor,
        action="key.disable",
        obj=key,
        detail={"office": key.office.name, "last4": key.last4, "reason": reason, "where": where},
    )


@transaction.atomic
def customer_key_enable(
    *, key: CustomerKey, actor: AbstractBaseUser | None, reason: str = ""
) -> CustomerKey:
    """Re-enable a key in odportal only; it becomes the office's current key again."""
    key_enable_check(key)
    key_enable_local(key=key, actor=actor)
    key_enable_record(key=key, actor=actor, reason=reason, where="odportal only")
    return key


def key_enable_local(*, key: CustomerKey, actor: AbstractBaseUser | None) -> None:
    """Make the key enabled and current in odportal's rows."""
    _retire_current(key.office, except_key=key)
    key.is_current = True
    key.status = KeyStatus.ENABLED
    key.enabled_at = timezone.now()
    key.pending_until = None
    key.changed_by = _actor(actor)
    key.save()
    _office_key_state_changed(key)


def key_enable_record(
    *, key: CustomerKey, actor: AbstractBaseUser | None, reason: str, where: str
) -> None:
    """Audit an enable that took effect (``where``: "odportal only" or "Open Dental")."""
    audit_record(
        account=key.office.account,
        actor=actor,
        action="key.enable",
        obj=key,
        detail={"office": key.office.name, "last4": key.last4, "reason": reason, "where": where},
    )


def key_portal_end(*, key: CustomerKey, error: str) -> None:
    """End a pending portal change that did not happen: the key stays as it was, the reason
    is shown on its row, and the audit log records the outcome."""
    action = key.portal_action
    key.portal_action = PortalAction.NONE
    key.portal_error = error[:2000]
    key.save(update_fields=["portal_action", "portal_error"])
    audit_record(
        account=key.office.account,
        actor=key.portal_requested_by,
        action=f"key.{action}.refused",
        obj=key,
        detail={"office": key.office.name, "last4": key.last4, "error": key.portal_error},
    )


@transaction.atomic
@sensitive_variables("new_key")
def customer_key_rotate(
    *, key: CustomerKey, new_key: str, actor: AbstractBaseUser | None, reason: str = ""
) -> CustomerKey:
    """Replace a key with a new one for the same office; the old one is disabled."""
    new_key = _clean_key(new_key)
    _retire_current(key.office)
    key.is_current = False  # retired first: the office is not "key disabled"
    _disable(key, actor, reason="rotated")
    new = _new_key(office=key.office, key=new_key, actor=actor)
    _office_key_state_changed(new)
    audit_record(
        account=key.office.account,
        actor=actor,
        action="key.rotate",
        obj=new,
        detail={
            "office": key.office.name,
            "old_last4": key.last4,
            "new_last4": new.last4,
            "reason": reason,
        },
    )
    return new


@transaction.atomic
def customer_key_move(
    *, key: CustomerKey, to_office: Office, actor: AbstractBaseUser | None, reason: str = ""
) -> CustomerKey:
    """Move a key to another office of the same account; pending for Open Dental's 15 minutes."""
    if to_office.account_id != key.office.account_id:
        raise ValidationError({"to_office": "A key can only move between offices of one account."})
    if to_office.pk == key.office_id:
        raise ValidationError({"to_office": "The key already belongs to this office."})
    from_office = key.office
    was_current = key.is_current
    _retire_current(to_office)
    now = timezone.now()
    key.office = to_office
    key.is_current = True
    key.status = KeyStatus.PENDING_MOVE
    key.pending_until = key.move_deadline(now)
    key.changed_by = actor if getattr(actor, "is_authenticated", False) else None
    key.save()
    _office_key_state_changed(key)
    if was_current:
        _office_without_key(from_office, f"Key …{key.last4} moved to {to_office.name}")
    audit_record(
        account=to_office.account,
        actor=actor,
        action="key.move",
        obj=key,
        detail={
            "from": from_office.name,
            "to": to_office.name,
            "last4": key.last4,
            "reason": reason,
        },
    )
    return key


def key_revealable(key: CustomerKey) -> bool:
    """A generated current key may be shown in full until the office's first successful poll
    with it (after that the office has it, and nobody needs to see it again)."""
    office = key.office
    polled_ok = office.last_success_at is not None and office.last_success_at >= key.created_at
    return key.generated and key.is_current and not polled_ok


@sensitive_variables("plain")
def customer_key_reveal(*, key: CustomerKey, actor: AbstractBaseUser) -> str:
    """The generated key in full, for the office's IT to paste; audited. ValidationError once
    the office has polled successfully with it."""
    if not key_revealable(key):
        raise ValidationError("This key is no longer shown: the office already uses it.")
    plain = customer_key_plaintext(key)
    audit_record(
        account=key.office.account,
        actor=actor,
        action="key.reveal",
        obj=key,
        detail={"office": key.office.name, "last4": key.last4},
    )
    return plain


def customer_key_plaintext(key: CustomerKey) -> str:
    """Decrypt a customer key for an API call; never store, log or display the result."""
    return crypto.decrypt(key.key_encrypted)


def customer_key_mark_detected(*, key: CustomerKey, status: str) -> None:
    """Record a status Open Dental reported (disabled by customer or HQ, or enabled again)."""
    if key.status == status:
        return
    key.status = status
    now = timezone.now()
    if status == KeyStatus.ENABLED:
        key.enabled_at = now
    else:
        key.disabled_at = now
    key.changed_by = None
    key.save(update_fields=["status", "enabled_at", "disabled_at", "changed_by"])
    _office_key_state_changed(key)
    audit_record(
        account=key.office.account,
        actor=None,
        action="key.detected",
        obj=key,
        detail={"status": status, "office": key.office.name, "last4": key.last4},
    )


def customer_keys_settle_moved(*, now) -> None:
    """Keys whose 15-minute move window has passed are enabled again."""
    for key in CustomerKey.objects.filter(status=KeyStatus.PENDING_MOVE, pending_until__lte=now):
        key.status = KeyStatus.ENABLED
        key.pending_until = None
        key.enabled_at = now
        key.save(update_fields=["status", "pending_until", "enabled_at"])
