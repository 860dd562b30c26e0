"""Bulk import of offices with their customer keys, from a CSV file or a sandbox manifest.

An upload is read and checked at once (``import_job_create``) and stored as an ImportJob, its
rows encrypted (they hold customer keys); a worker imports it (``import_job_run``) a chunk of
rows per transaction, saving the rows' results and the job's progress with each chunk, so a
run that crashed resumes at its first unprocessed row and no request waits for 10,000 rows.
``offices_import`` runs a job to the end in the calling process (the command, the demo).

Each row runs in its own savepoint: a rejected row leaves nothing behind (no office without its
key), while the good rows of the same file stay. Keys never appear in results or errors.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import uuid
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from integrations.accounts.models import DeveloperAccount
from integrations.accounts.services.audit import audit_record
from integrations.offices.models import (
    ApiMode,
    CustomerKey,
    ImportJob,
    ImportJobRow,
    ImportOutcome,
    JobState,
    KeyStatus,
    Office,
    error_lines,
)
from integrations.offices.services import jobs
from integrations.offices.services import keys as keys_service
from integrations.offices.services import offices as offices_service
from integrations.offices.services.polling.dispatch import broker_producer
from integrations.opendental import network
from integrations.opendental.keys import KEY_RULE, is_key
from odportal.celery import app
from odportal.lib import crypto
from odportal.lib.timefmt import plural

logger = logging.getLogger(__name__)

CSV_REQUIRED = ("name", "customer_key")
CSV_COLUMNS = ("name", "customer_key", "api_mode", "base_url", "time_zone", "reference", "notes")
# The downloadable template's example rows (the customer keys are placeholders to replace).
TEMPLATE_ROWS = (
    ("Smile Dental - Main St", "REPLACE_WITH_KEY1", "remote", "", "America/New_York", "SD-001",
     "Remote: requests go through Open Dental's servers"),
    ("Lakeside Family Dentistry", "REPLACE_WITH_KEY2", "service", "http://10.0.5.20:30223/api/v1",
     "America/Chicago", "LFD-7", "Service: the office's own API Service (owners confirm the host)"),
)  # fmt: skip
MANIFEST_KEY_STATUS = {
    "Enabled": KeyStatus.ENABLED,
    "EnabledReadOnly": KeyStatus.ENABLED,
    "DisabledByCustomer": KeyStatus.DISABLED_BY_CUSTOMER,
    "DisabledByDeveloper": KeyStatus.DISABLED_BY_DEVELOPER,
    "DisabledByHQ": KeyStatus.DISABLED_BY_HQ,
}
MAX_ROWS = 10_000
# Tasks are sent by name, so this module never imports ``tasks`` (which imports it).
IMPORT_TASK = "offices.import_job"
ACTIVE_STATES = (JobState.QUEUED, JobState.RUNNING)
WORKERS_DOWN = "Workers unavailable: the import could not be queued. Start the workers and retry."

Outcome = ImportOutcome  # created, skipped or rejected


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
        return error_lines(self.errors)


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
            f"{plural(len(self.rows), 'row')}: {self.created:,} created, {self.skipped:,} skipped, "
            f"{self.rejected:,} rejected"
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
    """Import offices and keys from CSV or manifest JSON now, in this process (a job run to its
    end here); raise ValidationError if the file is unreadable or the import did not finish.

    Service and Local rows may send their keys only to ``confirmed_hosts`` (see the module)."""
    job = import_job_create(
        account=account,
        actor=actor,
        source=source,
        filename=filename,
        base_url_override=base_url_override,
        confirmed_hosts=confirmed_hosts,
        send=False,
    )
    import_job_run(job.pk, claimer=f"inline-{uuid.uuid4().hex}")
    job.refresh_from_db()
    if job.state != JobState.DONE:
        raise ValidationError(job.error or "The import did not finish.")
    return import_result(job)


def import_result(job: ImportJob) -> ImportResult:
    """The per-row results a job has stored so far."""
    rows = [
        ImportRow(
            number=r.number,
            name=r.name,
            key_last4=r.key_last4,
            outcome=r.outcome,
            errors=r.errors,
            office_id=str(r.office_public_id or ""),
            host_to_confirm=r.host_to_confirm,
        )
        for r in job.rows.all()
    ]
    hosts = {row.host_to_confirm for row in rows if row.host_to_confirm}
    return ImportResult(format=job.format, rows=rows, hosts_to_confirm=hosts)


@sensitive_variables()  # every frame below it too: the file holds keys
def import_hosts_to_confirm(
    *,
    source: bytes | str,
    filename: str = "",
    base_url_override: str | None = None,
    confirmed_hosts: Collection[str] = (),
) -> set[str]:
    """The own-server hosts of an upload (Service and Local rows) not yet confirmed: asked for
    before the import starts. Raise ValidationError if the file is unreadable."""
    _, records = _parse(source, filename)
    hosts = set()
    for _, record in records:
        if str(record.get("api_mode") or "remote").strip().lower() == ApiMode.REMOTE:
            continue
        url = base_url_override or str(record.get("base_url") or "").strip()
        host = network.base_url_host(url) if url else ""
        if host and host not in confirmed_hosts:
            hosts.add(host)
    return hosts


# --- the job: created, sent, run a chunk at a time, closed ------------------------------------


@sensitive_variables()  # every frame below it too: the file holds keys
def import_job_create(
    *,
    account: DeveloperAccount,
    actor: AbstractBaseUser | None,
    source: bytes | str,
    filename: str = "",
    base_url_override: str | None = None,
    confirmed_hosts: Collection[str] = (),
    send: bool = True,
) -> ImportJob:
    """Check an upload and queue it as a job (rows stored encrypted, ``import.start`` audited);
    the task is sent once the transaction commits (``send=False``: the caller runs it).

    Raise ValidationError if the file is unreadable, too long, or the account already has an
    import under way."""
    fmt, records = _parse(source, filename)
    _refuse_while_active(account)
    user = actor if getattr(actor, "is_authenticated", False) else None
    try:
        with transaction.atomic():
            job = ImportJob.objects.create(
                account=account,
                requested_by=user,
                filename=_storable(filename)[:200],
                format=fmt,
                base_url_override=base_url_override or "",
                confirmed_hosts=sorted(confirmed_hosts),
                total_rows=len(records),
                payload_encrypted=crypto.encrypt(json.dumps(records)),
            )
            detail = {"filename": job.filename, "format": fmt, "rows": len(records)}
            audit_record(
                account=account, actor=actor, action="import.start", obj=job, detail=detail
            )
    except IntegrityError:  # another upload won the race for the account's one active import
        raise _active_error() from None
    if send:
        transaction.on_commit(lambda: import_job_send(job.pk))
    return job


def _refuse_while_active(account: DeveloperAccount) -> None:
    if ImportJob.objects.filter(account=account, state__in=ACTIVE_STATES).exists():
        raise _active_error()


def _active_error() -> ValidationError:
    message = "An import into this account is under way; wait until it has finished."
    return ValidationError({NON_FIELD_ERRORS: [message]})


def import_job_send(job_id: int) -> None:
    """Hand a queued import to the workers; if the broker is away the job fails, saying so."""
    try:
        with broker_producer() as producer:
            app.send_task(IMPORT_TASK, args=[job_id], retry=False, producer=producer)
    except Exception as exc:  # kombu raises many types for "broker down"
        logger.warning("could not queue import job %s: %s", job_id, type(exc).__name__)
        job = ImportJob.objects.select_related("account", "requested_by").get(pk=job_id)
        _job_end(job, JobState.FAILED, error=WORKERS_DOWN)


def import_jobs_resend_stale(*, limit: int = 100) -> int:
    """Send again the imports whose worker stopped (killed, restarted) or whose message was
    lost; each resumes at its first unprocessed row. Raises if the broker is away."""
    cutoff = timezone.now() - timedelta(seconds=settings.JOB_STALE_AFTER_S)
    stale = ImportJob.objects.filter(
        Q(state=JobState.RUNNING, heartbeat_at__lt=cutoff)
        | Q(state=JobState.QUEUED, queued_at__lt=cutoff)
    )
    job_ids = list(stale.order_by("pk").values_list("pk", flat=True)[:limit])
    for job_id in job_ids:
        app.send_task(IMPORT_TASK, args=[job_id])
    return len(job_ids)


class _ClaimLost(Exception):
    """Another worker took the job over (ours looked stale): this chunk must not count."""


@sensitive_variables()  # every frame below it too: the file holds keys
def import_job_run(job_id: int, *, claimer: str) -> None:
    """Import a job's unprocessed rows a chunk per transaction, then close it (``import.finish``
    audited). A finished job, or one a live worker holds, is left alone."""
    job = _job_claim(job_id, claimer)
    if job is None:
        return
    try:
        records = json.loads(crypto.decrypt(job.payload_encrypted))
    except (crypto.InvalidToken, ValueError):
        _job_end(job, JobState.FAILED, error="The stored upload cannot be read; upload again.")
        return
    try:
        while job.processed_rows < job.total_rows:
            _import_chunk(job, records, claimer)
    except _ClaimLost:
        return
    except (DatabaseError, SoftTimeLimitExceeded):
        raise  # the job stays claimed: a retry, or the stale-import beat, resumes it
    except Exception:
        logger.exception("import job %s stopped after %s rows", job.pk, job.processed_rows)
        error = (
            f"Stopped after {plural(job.processed_rows, 'row')} by an unexpected error (logged)."
        )
        _job_end(job, JobState.FAILED, error=error)
        return
    _job_end(job, JobState.DONE, claimer=claimer)
    _notify_owners(job.account, job.requested_by, import_result(job))


def _job_claim(job_id: int, claimer: str) -> ImportJob | None:
    """The job claimed (``jobs.job_claim``), or None; one attempt too many fails it."""
    job = jobs.job_claim(ImportJob, job_id, claimer, related=("account", "requested_by"))
    if job is None:
        return None
    if jobs.job_exhausted(job):
        error = (
            f"Gave up after {plural(job.processed_rows, 'row')} and "
            f"{plural(job.attempts - 1, 'attempt')}."
        )
        _job_end(job, JobState.FAILED, error=error)
        return None
    return job


def _import_chunk(job: ImportJob, records: list, claimer: str) -> None:
    """Import the next chunk of rows; their results and the job's progress commit with them."""
    start = job.processed_rows
    chunk = records[start : start + settings.IMPORT_CHUNK_ROWS]
    with transaction.atomic():
        rows = [_import_record(job, number, record) for number, record in chunk]
        ImportJobRow.objects.bulk_create([_stored_row(job, row) for row in rows])
        counts = Counter(row.outcome for row in rows)
        progress = {
            "processed_rows": start + len(rows),
            "created": job.created + counts[Outcome.CREATED],
            "skipped": job.skipped + counts[Outcome.SKIPPED],
            "rejected": job.rejected + counts[Outcome.REJECTED],
        }
        held = ImportJob.objects.filter(pk=job.pk, state=JobState.RUNNING, claimed_by=claimer)
        if held.update(heartbeat_at=timezone.now(), **progress) != 1:
            raise _ClaimLost
    for name, value in progress.items():
        setattr(job, name, value)


def _import_record(job: ImportJob, number: int, record: dict[str, Any]) -> ImportRow:
    """One row as the upload gave it, with the job's base URL override."""
    if job.base_url_override:
        record["base_url"] = job.base_url_override
    return _import_one(
        account=job.account, actor=job.requested_by, number=number, rec=record,
        confirmed=job.confirmed_hosts,
    )  # fmt: skip


def _stored_row(job: ImportJob, row: ImportRow) -> ImportJobRow:
    errors = {name: [_storable(m) for m in messages] for name, messages in row.errors.items()}
    return ImportJobRow(
        job=job,
        number=row.number,
        name=_storable(row.name),
        key_last4=row.key_last4,
        outcome=row.outcome,
        errors=errors,
        office_public_id=row.office_id or None,
        host_to_confirm=row.host_to_confirm[:255],
    )


def _storable(text: str) -> str:
    """Text the database can hold: no NUL (Postgres refuses it), no lone surrogates."""
    return text.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")


def _job_end(job: ImportJob, state: str, *, error: str = "", claimer: str = "") -> None:
    """Close an unfinished job once, dropping its stored rows, and audit ``import.finish``."""
    unfinished = ImportJob.objects.filter(pk=job.pk, state__in=ACTIVE_STATES)
    if claimer:
        unfinished = unfinished.filter(claimed_by=claimer)
    job.state, job.error, job.finished_at = state, error, timezone.now()
    with transaction.atomic():
        closed = unfinished.update(
            state=state, error=error, finished_at=job.finished_at, payload_encrypted=""
        )
        if closed:
            audit_record(
                account=job.account,
                actor=job.requested_by,
                action="import.finish",
                obj=job,
                detail=_finish_detail(job),
            )


def _finish_detail(job: ImportJob) -> dict[str, Any]:
    detail = {
        "filename": job.filename,
        "state": job.state,
        "rows": job.total_rows,
        "processed": job.processed_rows,
        "created": job.created,
        "skipped": job.skipped,
        "rejected": job.rejected,
    }
    return {**detail, "error": job.error} if job.error else detail


# --- parsing ---------------------------------------------------------------------------------


def _parse(source: bytes | str, filename: str) -> tuple[str, list[tuple[int, dict[str, Any]]]]:
    """The upload's format and rows; raise ValidationError if unreadable or too long."""
    text = _decode(source)
    is_json = filename.lower().endswith(".json") or text.lstrip().startswith("{")
    fmt, records = ("manifest", _manifest_records(text)) if is_json else ("csv", _csv_records(text))
    if len(records) > MAX_ROWS:
        raise ValidationError(f"Too many rows ({len(records)}); import at most {MAX_ROWS}.")
    return fmt, records


def _decode(source: bytes | str) -> str:
    if isinstance(source, bytes):
        try:
            source = source.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ValidationError(
                "The file is not UTF-8 text. In Excel, save it with “Save as” and the file "
                "type “CSV UTF-8 (Comma delimited)”."
            ) from None
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
