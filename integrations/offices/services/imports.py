"""Bulk import of offices with their customer keys, from a CSV file or a sandbox manifest.

Each row runs in its own savepoint: a rejected row leaves nothing behind (no office without its
key), while the good rows of the same file stay. Keys never appear in results or errors.

A row's base URL (or the override) is the server of a Service or Local row, under the rules of
``offices.office_create``: an owner's import only, and only to a host in ``confirmed_hosts``
(a row with another host is rejected, its host listed in ``hosts_to_confirm``); Remote rows
use the deployment's Open Dental URL whatever they say.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction
from django.views.decorators.debug import sensitive_variables

from integrations.accounts.models import DeveloperAccount
from integrations.accounts.services.audit import audit_record
from integrations.offices.models import ApiMode, CustomerKey, KeyStatus, Office
from integrations.offices.services import keys as keys_service
from integrations.offices.services import offices as offices_service
from integrations.opendental import network
from integrations.opendental.keys import KEY_RULE, is_key
from odportal.lib import crypto

CSV_REQUIRED = ("name", "customer_key")
CSV_COLUMNS = ("name", "customer_key", "api_mode", "base_url", "time_zone", "reference", "notes")
MANIFEST_KEY_STATUS = {
    "Enabled": KeyStatus.ENABLED,
    "EnabledReadOnly": KeyStatus.ENABLED,
    "DisabledByCustomer": KeyStatus.DISABLED_BY_CUSTOMER,
    "DisabledByDeveloper": KeyStatus.DISABLED_BY_DEVELOPER,
    "DisabledByHQ": KeyStatus.DISABLED_BY_HQ,
}
MAX_ROWS = 10_000


class Outcome:
    CREATED = "created"
    SKIPPED = "skipped"
    REJECTED = "rejected"


@dataclass
class ImportRow:
    """What happened to one input row; ``key_last4`` is the only part of the key kept."""

    number: int
    name: str
    key_last4: str
    outcome: str
    errors: dict[str, list[str]] = field(default_factory=dict)
    office_id: str = ""
    host_to_confirm: str = ""

    @property
    def messages(self) -> list[str]:
        """Errors as 'field: message' lines."""
        return [f"{f}: {m}" if f != "__all__" else m for f, ms in self.errors.items() for m in ms]


@dataclass
class ImportResult:
    """Per-row outcomes of one import, with counts."""

    format: str
    rows: list[ImportRow] = field(default_factory=list)
    # Hosts of rejected rows whose keys would go there once confirmed (import again with them).
    hosts_to_confirm: set[str] = field(default_factory=set)

    def count(self, outcome: str) -> int:
        return sum(1 for r in self.rows if r.outcome == outcome)

    @property
    def created(self) -> int:
        return self.count(Outcome.CREATED)

    @property
    def skipped(self) -> int:
        return self.count(Outcome.SKIPPED)

    @property
    def rejected(self) -> int:
        return self.count(Outcome.REJECTED)

    @property
    def summary(self) -> str:
        return (
            f"{len(self.rows)} rows: {self.created} created, {self.skipped} skipped, "
            f"{self.rejected} rejected"
        )


@sensitive_variables()  # every frame below it too: the file holds keys
def offices_import(
    *,
    account: DeveloperAccount,
    actor: AbstractBaseUser | None,
    source: bytes | str,
    filename: str = "",
    base_url_override: str | None = None,
    confirmed_hosts: Collection[str] = (),
) -> ImportResult:
    """Import offices and keys from CSV or manifest JSON; raise ValidationError if unreadable.

    Service and Local rows may send their keys only to ``confirmed_hosts`` (see the module)."""
    text = _decode(source)
    is_json = filename.lower().endswith(".json") or text.lstrip().startswith("{")
    fmt, records = ("manifest", _manifest_records(text)) if is_json else ("csv", _csv_records(text))
    if len(records) > MAX_ROWS:
        raise ValidationError(f"Too many rows ({len(records)}); import at most {MAX_ROWS}.")
    result = ImportResult(format=fmt)
    for number, record in records:
        if base_url_override:
            record["base_url"] = base_url_override
        row = _import_one(
            account=account, actor=actor, number=number, rec=record, confirmed=confirmed_hosts
        )
        result.rows.append(row)
        if row.host_to_confirm:
            result.hosts_to_confirm.add(row.host_to_confirm)
    _notify_owners(account, actor, result)
    audit_record(
        account=account,
        actor=actor,
        action="offices.import",
        obj=account,
        detail={
            "filename": filename[:200],
            "format": fmt,
            "created": result.created,
            "skipped": result.skipped,
            "rejected": result.rejected,
        },
    )
    return result


# --- parsing ---------------------------------------------------------------------------------


def _decode(source: bytes | str) -> str:
    if isinstance(source, bytes):
        try:
            source = source.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ValidationError("The file is not UTF-8 text.") from None
    return source.removeprefix("\ufeff")


def _csv_records(text: str) -> list[tuple[int, dict[str, Any]]]:
    """Rows of a CSV with a header line; ``;`` or ``,`` (or tab) delimited, headers any case."""
    first_line = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first_line.count)
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        header = [h.strip().lower().replace(" ", "_") for h in next(reader)]
    except (StopIteration, csv.Error):
        raise ValidationError("The CSV file is empty.") from None
    missing = [c for c in CSV_REQUIRED if c not in header]
    if missing:
        raise ValidationError(
            f"The CSV header lacks {', '.join(missing)} "
            f"(expected columns: {', '.join(CSV_COLUMNS)})."
        )
    records = []
    try:
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            row = {h: c.strip() for h, c in zip(header, cells, strict=False) if h in CSV_COLUMNS}
            records.append((reader.line_num, row))
    except csv.Error as exc:
        raise ValidationError(f"The CSV file is malformed near line {reader.line_num}.") from exc
    return records


def _manifest_records(text: str) -> list[tuple[int, dict[str, Any]]]:
    """Offices of a sandbox manifest; each uses the manifest's base_url."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"The JSON file is not valid (line {exc.lineno}).") from None
    except RecursionError:  # e.g. 200,000 nested brackets: not a manifest, not a 500
        raise ValidationError("The JSON file is nested too deeply to be a manifest.") from None
    if not isinstance(data, dict) or not isinstance(data.get("offices"), list):
        raise ValidationError('The JSON file is not a sandbox manifest (no "offices" list).')
    records = []
    for number, office in enumerate(data["offices"], start=1):
        office = office if isinstance(office, dict) else {}
        records.append(
            (
                number,
                {
                    "name": str(office.get("name") or "").strip(),
                    "customer_key": str(office.get("customer_key") or "").strip(),
                    "api_mode": str(office.get("mode") or "remote"),
                    "base_url": str(data.get("base_url") or ""),
                    "key_status": str(office.get("key_status") or "Enabled"),
                },
            )
        )
    return records


# --- one row ---------------------------------------------------------------------------------


class _Rejected(Exception):
    def __init__(self, errors: dict[str, list[str]], host_to_confirm: str = "") -> None:
        self.errors = errors
        self.host_to_confirm = host_to_confirm


def _import_one(
    *,
    account: DeveloperAccount,
    actor: Any,
    number: int,
    rec: dict[str, Any],
    confirmed: Collection[str],
) -> ImportRow:
    key = rec.get("customer_key", "")
    row = ImportRow(number=number, name=rec.get("name", "")[:200], key_last4="", outcome="")
    if is_key(key):
        row.key_last4 = crypto.last4(key)
        if CustomerKey.objects.filter(key_hash__in=crypto.key_hashes(key)).exists():
            row.outcome = Outcome.SKIPPED
            row.errors = {"customer_key": ["This customer key is already registered."]}
            return row
    try:
        with transaction.atomic():  # savepoint: a rejected row leaves nothing behind
            office = _create(account=account, actor=actor, rec=rec, key=key, confirmed=confirmed)
    except _Rejected as exc:
        row.outcome, row.errors = Outcome.REJECTED, _scrub(exc.errors, key)
        row.host_to_confirm = exc.host_to_confirm
        return row
    row.outcome, row.office_id = Outcome.CREATED, str(office.public_id)
    return row


def _create(
    *,
    account: DeveloperAccount,
    actor: Any,
    rec: dict[str, Any],
    key: str,
    confirmed: Collection[str],
):
    errors: dict[str, list[str]] = {}
    if not is_key(key):
        errors["customer_key"] = ["Enter the customer key." if not key else KEY_RULE]
    fields = {c: rec.get(c, "") for c in CSV_COLUMNS if c != "customer_key"}
    mode = str(fields.get("api_mode") or "remote").strip().lower()
    if mode not in ApiMode.values:
        errors["api_mode"] = [f"Use one of: {', '.join(ApiMode.values)}."]
    fields["api_mode"] = mode
    for name, value in fields.items():  # Postgres cannot store NUL; say which cell has one
        if isinstance(value, str) and "\x00" in value:
            errors[name] = ["Contains a NUL (\\x00) character."]
    if errors:
        raise _Rejected(errors)
    host = network.base_url_host(str(fields.get("base_url") or "").strip())
    try:
        office = offices_service.office_create(
            account=account, actor=actor, notify=False, **fields,
            confirmed_host=host if host in confirmed else "",
        )  # fmt: skip
        new_key = keys_service.customer_key_add(office=office, key=key, actor=actor)
        status = MANIFEST_KEY_STATUS.get(rec.get("key_status", ""), KeyStatus.ENABLED)
        if status != KeyStatus.ENABLED:
            keys_service.customer_key_mark_detected(key=new_key, status=status)
    except ValidationError as exc:
        raise _Rejected(_error_dict(exc), _host_to_confirm(exc)) from None
    except DatabaseError:
        raise _Rejected({"__all__": ["The row could not be saved."]}) from None
    return office


def _host_to_confirm(exc: ValidationError) -> str:
    """The host a row was refused for want of confirming (office_create's "confirm" error)."""
    errors = getattr(exc, "error_dict", {}).get("base_url", [])
    return next((e.params["host"] for e in errors if e.code == "confirm" and e.params), "")


def _notify_owners(account: DeveloperAccount, actor: Any, result: ImportResult) -> None:
    """One mail for the whole import: which new offices send their keys to which server."""
    ids = [row.office_id for row in result.rows if row.outcome == Outcome.CREATED]
    own_servers = Office.objects.filter(public_id__in=ids).exclude(api_mode=ApiMode.REMOTE)
    offices_service.offices_destinations_notify(
        account=account, actor=actor, offices=list(own_servers.order_by("name"))
    )


def _error_dict(exc: ValidationError) -> dict[str, list[str]]:
    return exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}


def _scrub(errors: dict[str, list[str]], key: str) -> dict[str, list[str]]:
    """Replace the key wherever a message might echo it (e.g. a misaligned CSV column)."""
    if len(key) < 4:
        return errors
    masked = f"…{key[-4:]}"
    return {f: [m.replace(key, masked) for m in ms] for f, ms in errors.items()}
