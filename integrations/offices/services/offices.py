"""Offices: create and edit, and where an office's requests go.

Every request carries the account's developer key and the office's customer key, so where an
office's requests go is a trust boundary. A Remote office goes to the deployment's
``OPENDENTAL_REMOTE_BASE_URL`` and stores no URL. A Service or Local office goes to its own
server (``base_url``), which only an owner sets or changes (``actor=None``, a shell command,
counts as one), with the new host confirmed (``confirmed_host``), and only to an address the
deployment allows (``clients.network_guard``). Each such change is audited with the old and new
host and mailed to the account's other owners.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from functools import cache
from typing import Any
from zoneinfo import available_timezones

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction

from integrations.accounts import access
from integrations.accounts.models import DeveloperAccount
from integrations.accounts.selectors import owner_emails
from integrations.accounts.services.audit import audit_record
from integrations.offices.models import ApiMode, Office
from integrations.offices.services.clients import network_guard
from integrations.opendental import network

log = logging.getLogger(__name__)

OFFICE_FIELDS = (
    "name",
    "reference",
    "api_mode",
    "base_url",
    "time_zone",
    "notes",
    "polling_enabled",
    "health_interval_s",
)
OWNER_ONLY = "Only an owner of the account can change where this office's requests (and keys) go."
SAME_NAME = (
    "This account already has an office named %(name)s. Tick “Add a second office with this "
    "name” to add it anyway."
)
SERVER_NEEDED = (
    "Service and Local offices need their server's address, e.g. https://10.8.0.5:30223/api/v1."
)


@cache
def _time_zones() -> frozenset[str]:
    # Listing the IANA names walks the tz database (~10 ms): more than half of an imported
    # row's cost when read per office.
    return frozenset(available_timezones())


def _validate_office(office: Office) -> None:
    """What ``full_clean(validate_constraints=False)`` leaves out (the model's constraints, with
    a field named: Django's generic check says only "Constraint … is violated", and costs ~2 ms
    an office, a third of an imported row), then the rules the model cannot state."""
    errors: dict[str, str] = {}
    for name in ("name", "reference", "notes", "base_url", "time_zone"):
        if "\x00" in (getattr(office, name) or ""):
            errors[name] = "Contains a NUL character, which cannot be stored."
    if office.reference and "reference" not in errors and _reference_taken(office):
        errors["reference"] = "Another office of this account has this reference."
    if office.time_zone not in _time_zones():
        errors["time_zone"] = f"Unknown time zone {office.time_zone!r} (use e.g. America/Chicago)."
    if office.health_interval_s is not None and office.health_interval_s < 60:  # 0 too
        errors["health_interval_s"] = "Poll at most once a minute (60 seconds or more)."
    if errors:
        raise ValidationError(errors)


def base_url_validate(url: str) -> str:
    """A Service or Local server address, normalised; ValidationError if malformed or its host
    resolves to no address this deployment allows."""
    url = url.strip().rstrip("/")
    if not url:
        raise ValidationError(SERVER_NEEDED)
    try:
        network.base_url_check(url, network_guard())
    except network.BaseUrlRefused as exc:
        raise ValidationError(str(exc)) from None
    return url


def _destination_check(
    office: Office, *, before: str | None, actor: Any, confirmed_host: str
) -> bool:
    """Refuse a new or changed destination unless an owner sets it and, for an own server, its
    host is allowed and confirmed; True when the destination is new or changed.

    ``before`` is the office's ``api_base_url`` before the change (None: a new office).
    """
    own_server = office.api_mode != ApiMode.REMOTE
    # Remote: the deployment's URL, never a stored one.
    office.base_url = office.base_url.strip().rstrip("/") if own_server else ""
    if office.api_base_url == before or (before is None and not own_server):
        return False
    if actor is not None and not access.is_owner(office.account, actor):
        raise ValidationError({"base_url": OWNER_ONLY})
    if own_server:
        try:
            office.base_url = base_url_validate(office.base_url)
        except ValidationError as exc:
            raise ValidationError({"base_url": exc.messages}) from None
        host = office.api_host
        if confirmed_host != host:
            raise ValidationError(
                {"base_url": ValidationError(
                    "Confirm that this office's keys may be sent to %(host)s.",
                    code="confirm", params={"host": host},
                )}
            )  # fmt: skip
    return True


def _office_check(office: Office, *, before: str | None, actor: Any, confirmed_host: str) -> bool:
    """Every check of an office about to be saved, their field errors raised together;
    True when its destination is new or changed (``_destination_check``)."""
    errors: dict[str, list] = {}
    directed = False
    checks = (
        lambda: _validate_office(office),
        lambda: _destination_check(
            office, before=before, actor=actor, confirmed_host=confirmed_host
        ),
        lambda: office.full_clean(validate_constraints=False),  # _validate_office checks them
    )
    for check in checks:
        try:
            directed = check() or directed
        except ValidationError as exc:
            for name, field_errors in exc.update_error_dict({}).items():
                errors.setdefault(name, field_errors)
    if errors:
        raise ValidationError(errors)
    return directed


def _reference_taken(office: Office) -> bool:
    """The office_unique_reference constraint (office_name_not_blank: a blank name is already
    a field error)."""
    others = Office.objects.filter(account_id=office.account_id, reference=office.reference)
    return others.exclude(pk=office.pk).exists() if office.pk else others.exists()


class OfficeAlreadyCreated(Exception):
    """The form with this creation token already added ``office``."""

    def __init__(self, office: Office) -> None:
        super().__init__(f"office {office.pk} was created by this form already")
        self.office = office


def _same_name_check(office: Office, errors: dict) -> None:
    """Refuse a second office of one name in an account (unless the user said so)."""
    if (
        "name" not in errors
        and Office.objects.filter(account_id=office.account_id, name__iexact=office.name).exists()
    ):
        errors["name"] = [
            ValidationError(SAME_NAME, code="same_name", params={"name": office.name})
        ]


def _created_by(account: DeveloperAccount, token) -> Office | None:
    return Office.objects.filter(account=account, creation_token=token).first() if token else None


@transaction.atomic
def office_create(
    *,
    account: DeveloperAccount,
    actor: AbstractBaseUser | None,
    confirmed_host: str = "",
    notify: bool = True,
    creation_token: uuid.UUID | None = None,
    allow_same_name: bool = True,
    **fields: Any,
) -> Office:
    """Create an office; a Service or Local one with its server address (owner, confirmed).

    ``creation_token``: the form's one-time token; its second use raises OfficeAlreadyCreated.
    ``allow_same_name=False`` (the form, until the user ticks it) refuses a name the account
    already has; imports match rows by key instead.
    """
    if existing := _created_by(account, creation_token):
        raise OfficeAlreadyCreated(existing)
    data = {k: v for k, v in fields.items() if k in OFFICE_FIELDS and v not in (None, "")}
    office = Office(account=account, **data)
    errors: dict = {}
    try:
        directed = _office_check(office, before=None, actor=actor, confirmed_host=confirmed_host)
    except ValidationError as exc:
        errors = exc.update_error_dict({})
    if not allow_same_name:
        _same_name_check(office, errors)
    if errors:
        raise ValidationError(errors)
    office.creation_token = creation_token  # after full_clean: the unique index decides
    try:
        with transaction.atomic():  # a concurrent POST of the same form may have won
            office.save()
    except IntegrityError:
        if existing := _created_by(account, creation_token):
            raise OfficeAlreadyCreated(existing) from None
        raise
    audit_record(account=account, actor=actor, action="office.create", obj=office)
    if directed:
        _destination_record(office, actor=actor, before=None, notify=notify)
    return office


@transaction.atomic
def office_update(
    *,
    office: Office,
    actor: AbstractBaseUser | None,
    confirmed_host: str = "",
    audited: bool = True,
    **fields: Any,
) -> Office:
    """Edit an office's settings (not its health cache); audit the changed field names, and a
    change of where its requests go (owners only, confirmed) with the old and new host.

    ``audited=False``: the caller records one event for many offices (a bulk action)."""
    before = office.api_base_url
    changed = [k for k, v in fields.items() if k in OFFICE_FIELDS and getattr(office, k) != v]
    for name in changed:
        setattr(office, name, fields[name])
    directed = _office_check(office, before=before, actor=actor, confirmed_host=confirmed_host)
    office.save()
    changed = [name for name in changed if name != "base_url" or directed]
    if changed and audited:
        audit_record(
            account=office.account,
            actor=actor,
            action="office.update",
            obj=office,
            detail={"fields": sorted(changed)},
        )
    if directed:
        _destination_record(office, actor=actor, before=before, notify=True)
    return office


def _destination_record(office: Office, *, actor: Any, before: str | None, notify: bool) -> None:
    """The audit event of a new destination, and (after commit) the mail to the other owners."""
    old_host = network.base_url_host(before) if before else ""
    audit_record(
        account=office.account,
        actor=actor,
        action="office.destination",
        obj=office,
        detail={
            "old_host": old_host,
            "new_host": office.api_host,
            "old_url": before or "",
            "new_url": office.api_base_url,
        },
    )
    if notify:
        offices_destinations_notify(account=office.account, actor=actor, offices=[office])


def offices_destinations_notify(
    *, account: DeveloperAccount, actor: Any, offices: Sequence[Office]
) -> None:
    """Mail the account's other owners (after commit) where these offices' keys now go."""
    if not offices:
        return
    lines = "\n".join(f"- {o.name}: {o.api_host} ({o.api_base_url})" for o in offices)
    who = actor.get_username() if getattr(actor, "is_authenticated", False) else "A command"
    subject = f"odportal: {account.company_name}: keys sent to a new server"
    if len(offices) == 1:
        subject = f"odportal: {offices[0].name} now sends its keys to {offices[0].api_host}"
    body = (
        f"{who} set where these offices of {account.company_name} send their requests. Every "
        "request carries the account's developer key and the office's customer key.\n\n"
        f"{lines}\n\nIf you did not expect this, check the offices and the account's audit log."
    )
    recipients = owner_emails(account, besides=actor)
    if recipients:
        transaction.on_commit(lambda: _mail(subject, body, recipients))


def _mail(subject: str, body: str, recipients: list[str]) -> None:
    try:
        send_mail(subject, body, None, recipients)
    except Exception:  # the change is made and audited; a mail server outage must not undo it
        log.exception("could not mail the owners about a new office destination")
