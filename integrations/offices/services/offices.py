"""Offices: create and edit."""

from __future__ import annotations

from functools import cache
from typing import Any
from zoneinfo import available_timezones

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from integrations.accounts.models import DeveloperAccount
from integrations.accounts.services.audit import audit_record
from integrations.offices.models import REMOTE_BASE_URL, ApiMode, Office

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
DEFAULT_BASE_URLS = {
    ApiMode.REMOTE: REMOTE_BASE_URL,
    ApiMode.LOCAL: "http://localhost:30222/api/v1",
    ApiMode.SERVICE: "http://127.0.0.1:30223/api/v1",
}


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
    if office.base_url and not office.base_url.rstrip("/").endswith("/api/v1"):
        errors["base_url"] = "The base URL must end with /api/v1, e.g. " + REMOTE_BASE_URL
    if office.health_interval_s and office.health_interval_s < 60:
        errors["health_interval_s"] = "Poll at most once a minute."
    if errors:
        raise ValidationError(errors)
    office.base_url = office.base_url.rstrip("/")


def _reference_taken(office: Office) -> bool:
    """The office_unique_reference constraint (office_name_not_blank: a blank name is already
    a field error)."""
    others = Office.objects.filter(account_id=office.account_id, reference=office.reference)
    return others.exclude(pk=office.pk).exists() if office.pk else others.exists()


@transaction.atomic
def office_create(
    *, account: DeveloperAccount, actor: AbstractBaseUser | None, **fields: Any
) -> Office:
    """Create an office; the base URL defaults from the API mode."""
    data = {k: v for k, v in fields.items() if k in OFFICE_FIELDS and v not in (None, "")}
    if "base_url" not in data:
        data["base_url"] = DEFAULT_BASE_URLS[ApiMode(data.get("api_mode", ApiMode.REMOTE))]
    office = Office(account=account, **data)
    office.full_clean(validate_constraints=False)  # _validate_office checks them
    _validate_office(office)
    office.save()
    audit_record(account=account, actor=actor, action="office.create", obj=office)
    return office


@transaction.atomic
def office_update(*, office: Office, actor: AbstractBaseUser | None, **fields: Any) -> Office:
    """Edit an office's settings (not its health cache); audit the changed field names."""
    changed = [k for k, v in fields.items() if k in OFFICE_FIELDS and getattr(office, k) != v]
    for name in changed:
        setattr(office, name, fields[name])
    office.full_clean(validate_constraints=False)  # _validate_office checks them
    _validate_office(office)
    office.save()
    if changed:
        audit_record(
            account=office.account,
            actor=actor,
            action="office.update",
            obj=office,
            detail={"fields": sorted(changed)},
        )
    return office
