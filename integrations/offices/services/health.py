"""Office health: a poll validates the key pair; a full one also reads permissions, version
and clinics.

A full check costs five requests; most polls are a liveness check of one (``health_is_full``
says which), so a 10,000-office fleet does not ask every eConnector five questions every
five minutes to learn that nothing changed.

Faults become a status with a cause on the office, never an exception out of the worker; the
last good values (permissions, version, clinics) are kept when a poll fails.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as dtime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from integrations import opendental as od
from integrations.accounts.models import ApiResource, RequestedPermission
from integrations.offices.models import (
    Clinic,
    CustomerKey,
    KeyStatus,
    Office,
    OfficeStatus,
)
from integrations.offices.services.keys import customer_key_mark_detected
from integrations.offices.services.status import office_status_set
from integrations.opendental.aio import AsyncOpenDentalClient
from integrations.opendental.preferences import (
    PREF_AGING_TIME_DUE,
    PREF_DATE_LAST_AGING,
    PREF_VERSION,
    parse_pref_date,
    parse_pref_time,
)
from odportal.lib import bulk

# Which Open Dental permission a requested resource/action needs (apipermissions.html).
# Reads are all ApiReadAll except queries; writes need the resource's own permission.
_WRITE_PERMISSION = {
    ApiResource.APPOINTMENTS: "ApiAppointments",
    ApiResource.PATIENTS: "ApiPatients",
    ApiResource.PAYMENTS: "ApiPayments",
    ApiResource.PAY_PLANS: "ApiPayPlans",
    ApiResource.PROCEDURE_LOGS: "ApiProcedureLogs",
    ApiResource.DOCUMENTS: "ApiDocuments",
    ApiResource.COMMLOGS: "ApiComm",
    ApiResource.INS_PLANS: "ApiInsurance",
    ApiResource.CLINICS: "ApiSetup",
    ApiResource.PREFERENCES: "ApiSetup",
    ApiResource.OPERATORIES: "ApiSetup",
    ApiResource.PROVIDERS: "ApiSetup",
    ApiResource.QUERIES: "ApiQueries",
    ApiResource.SUBSCRIPTIONS: "ApiReadAll",  # Subscriptions GET/POST/PUT come with ReadAll
}

_KEY_STATUS_FROM_BODY = {
    "DisabledByCustomer": KeyStatus.DISABLED_BY_CUSTOMER,
    "DisabledByHQ": KeyStatus.DISABLED_BY_HQ,
    "DisabledByDeveloper": KeyStatus.DISABLED_BY_DEVELOPER,
}


def required_permissions(rows: list[RequestedPermission]) -> set[str]:
    """The Open Dental permissions a requested-permissions matrix needs."""
    needed: set[str] = set()
    for row in rows:
        if row.can_read:
            needed.add("ApiQueries" if row.resource == ApiResource.QUERIES else "ApiReadAll")
        if row.can_create or row.can_update:
            needed.add(_WRITE_PERMISSION.get(row.resource, "ApiAllOthers"))
    return needed


def status_for_error(exc: Exception) -> str:
    """Map a client error to the office status that names its cause."""
    if isinstance(exc, od.PermissionMissing):
        return OfficeStatus.PERMISSION_MISSING
    if isinstance(exc, od.KeyRejected):
        return OfficeStatus.KEY_DISABLED if _detected_key_status(exc) else OfficeStatus.KEY_REJECTED
    if isinstance(exc, od.EConnectorDown):
        return OfficeStatus.ECONNECTOR_DOWN
    if isinstance(exc, od.Throttled):
        return OfficeStatus.THROTTLED
    if isinstance(exc, od.ServerTimeout | od.Timeout):
        return OfficeStatus.TIMED_OUT
    if isinstance(exc, od.Unreachable):
        return OfficeStatus.UNREACHABLE
    return OfficeStatus.OD_ERROR


def _detected_key_status(exc: Exception) -> str | None:
    body = getattr(exc, "body", "") or str(exc)
    for marker, status in _KEY_STATUS_FROM_BODY.items():
        if marker in body:
            return status
    return "disabled" in body.lower() and KeyStatus.DISABLED_BY_CUSTOMER or None


@dataclass
class HealthResult:
    granted: frozenset[str]
    version: str
    date_last_aging: date | None
    aging_time_due: dtime | None
    clinics: list[od.Clinic]
    latency_ms: int
    started: datetime | None = None  # when the poll began: the next one is an interval on


@dataclass
class LivenessResult:
    date_last_aging: date | None
    latency_ms: int
    started: datetime | None = None  # as HealthResult's


def health_is_full(office: Office, key: CustomerKey, *, manual: bool, now: datetime) -> bool:
    """Whether this health poll is the full check: asked by a person, the office not OK, a
    key it has not fully checked (added, rotated, moved in or enabled since), or the last
    full check ``HEALTH_FULL_CHECK_INTERVAL_S`` ago."""
    last = office.health_full_at
    return (
        manual
        or office.status != OfficeStatus.OK
        or last is None
        or office.health_full_key_id != key.pk
        or (key.enabled_at is not None and key.enabled_at > last)
        or now - last >= timedelta(seconds=settings.HEALTH_FULL_CHECK_INTERVAL_S)
    )


def liveness_fetch(client: od.OpenDentalClient) -> LivenessResult:
    """One request: DateLastAging proves the key works and the eConnector answers, and tells
    whether today's aging has run."""
    began, started = timezone.now(), time.monotonic()
    last_aging = parse_pref_date(client.preference(PREF_DATE_LAST_AGING))
    return LivenessResult(last_aging, int((time.monotonic() - started) * 1000), began)


@transaction.atomic
def office_liveness_record_ok(*, office: Office, result: LivenessResult) -> None:
    """Store a successful liveness check (only run while the office is OK)."""
    offices_liveness_record_ok([(office, result)])


LIVENESS_FIELDS = [
    "last_polled_at", "last_success_at", "last_error", "consecutive_failures", "next_health_at",
    "date_last_aging", "latency_ms",
]  # fmt: skip


def offices_liveness_record_ok(done: list[tuple[Office, LivenessResult]]) -> None:
    """``office_liveness_record_ok`` for many offices in one statement (the batch's path).

    Liveness checks run only on offices that were OK, and success keeps them OK, so no status
    changes here: the status column is not written, and a key action that changed it
    meanwhile stands.
    """
    now = timezone.now()
    for office, result in done:
        office.date_last_aging, office.latency_ms = result.date_last_aging, result.latency_ms
        office.last_polled_at = office.last_success_at = now
        office.last_error, office.consecutive_failures = "", 0
        office.next_health_at = next_health_at(office, result.started or now)
    bulk.rows_update([office for office, _ in done], LIVENESS_FIELDS)


async def liveness_afetch(client: AsyncOpenDentalClient) -> LivenessResult:
    """``liveness_fetch`` on an event loop."""
    began, started = timezone.now(), time.monotonic()
    last_aging = parse_pref_date(await client.apreference(PREF_DATE_LAST_AGING))
    return LivenessResult(last_aging, int((time.monotonic() - started) * 1000), began)


async def health_afetch(client: AsyncOpenDentalClient) -> HealthResult:
    """``health_fetch`` on an event loop (the same five calls, in the same order)."""
    began, started = timezone.now(), time.monotonic()
    granted = await client.agranted_permissions()
    latency_ms = int((time.monotonic() - started) * 1000)
    version = await client.apreference(PREF_VERSION) or ""
    last_aging = parse_pref_date(await client.apreference(PREF_DATE_LAST_AGING))
    time_due = parse_pref_time(await client.apreference(PREF_AGING_TIME_DUE))
    clinics = await client.aclinics()
    return HealthResult(granted, version, last_aging, time_due, clinics, latency_ms, began)


def health_fetch(client: od.OpenDentalClient) -> HealthResult:
    """The five calls of a health poll (securityperms, three preferences, clinics)."""
    began, started = timezone.now(), time.monotonic()
    granted = client.granted_permissions()
    latency_ms = int((time.monotonic() - started) * 1000)
    version = client.preference(PREF_VERSION) or ""
    last_aging = parse_pref_date(client.preference(PREF_DATE_LAST_AGING))
    time_due = parse_pref_time(client.preference(PREF_AGING_TIME_DUE))
    clinics = client.clinics()
    return HealthResult(granted, version, last_aging, time_due, clinics, latency_ms, began)


ERROR_TEXT_LIMIT = 500  # the cause and Open Dental's text (at most 200 characters) fit

HEALTH_FIELDS = [
    "status", "status_since", "last_polled_at", "last_error", "consecutive_failures",
    "next_health_at",
]  # fmt: skip


@transaction.atomic
def office_health_record_ok(*, office: Office, key: CustomerKey, result: HealthResult) -> None:
    """Store a successful poll: permissions, gap to the request, version, clinics."""
    now = timezone.now()
    needed = required_permissions(list(office.account.requested_permissions.all()))
    office.granted_permissions = sorted(result.granted)
    office.missing_permissions = sorted(needed - result.granted)
    office.program_version = result.version[:40]
    office.date_last_aging = result.date_last_aging
    office.aging_service_time_due = result.aging_time_due
    office.latency_ms = result.latency_ms
    office.last_polled_at = office.last_success_at = now
    office.health_full_at, office.health_full_key = now, key
    office.consecutive_failures = 0
    # The key works, but a permission the account asked for is not granted: that is not OK.
    missing = office.missing_permissions
    office.last_error = missing_permissions_text(missing)
    status = OfficeStatus.PERMISSION_MISSING if missing else OfficeStatus.OK
    office_status_set(office=office, status=status, now=now, error=office.last_error)
    # After the status (it sets the pace), an interval from when the poll began: each office
    # keeps its own point of the interval instead of joining its batch's finish.
    office.next_health_at = next_health_at(office, result.started or now)
    # Only health fields: an aging run may have changed the snapshot fields meanwhile.
    office.save(update_fields=[*HEALTH_FIELDS, "granted_permissions", "missing_permissions",
                               "program_version", "date_last_aging", "aging_service_time_due",
                               "latency_ms", "last_success_at", "health_full_at",
                               "health_full_key"])  # fmt: skip
    _clinics_upsert(office, result.clinics)
    if key.status in (KeyStatus.DISABLED_BY_CUSTOMER, KeyStatus.DISABLED_BY_HQ):
        customer_key_mark_detected(key=key, status=KeyStatus.ENABLED)


def missing_permissions_text(missing: list[str]) -> str:
    """The shown cause when the key lacks permissions the account requested ('' if none)."""
    if not missing:
        return ""
    return f"The key lacks {', '.join(missing)}, which the account requested."


def _clinics_upsert(office: Office, clinics: list[od.Clinic]) -> None:
    seen = []
    for clinic in clinics:
        Clinic.objects.update_or_create(
            office=office,
            clinic_num=clinic.clinic_num,
            defaults={
                "description": clinic.description[:200],
                "abbr": clinic.abbr[:40],
                "is_hidden": clinic.is_hidden,
            },
        )
        seen.append(clinic.clinic_num)
    Clinic.objects.filter(office=office).exclude(clinic_num__in=seen).delete()


@transaction.atomic
def office_health_record_error(*, office: Office, key: CustomerKey | None, exc: Exception) -> str:
    """Store a failed poll as a status with its cause; cached data stays as it was."""
    now = timezone.now()
    status = status_for_error(exc)
    office.last_polled_at = now
    office.last_error = error_text(exc)
    office.consecutive_failures += 1
    office_status_set(office=office, status=status, now=now, error=office.last_error)
    office.next_health_at = next_health_at(office, now)
    if isinstance(exc, od.PermissionMissing) and exc.permission:
        office.missing_permissions = sorted({*office.missing_permissions, exc.permission})
    office.save(update_fields=[*HEALTH_FIELDS, "missing_permissions"])
    detected = _detected_key_status(exc) if isinstance(exc, od.KeyRejected) else None
    if key is not None and detected and not isinstance(exc, od.PermissionMissing):
        customer_key_mark_detected(key=key, status=detected)
    return status


# Faults a later successful call disproves (the office answered); key and permission problems
# are the health poll's to judge.
TRANSIENT_FAULT_STATUSES = (
    OfficeStatus.ECONNECTOR_DOWN, OfficeStatus.THROTTLED, OfficeStatus.TIMED_OUT,
    OfficeStatus.OD_ERROR, OfficeStatus.UNREACHABLE,
)  # fmt: skip


def offices_record_answered(*, office_ids: list[int]) -> None:
    """A completed aging refresh proves these offices answer: a transient fault status they
    still show (from an earlier poll) is cleared, so the page does not keep a stale alarm."""
    now = timezone.now()
    faulty = (
        Office.objects.select_for_update()
        .filter(pk__in=office_ids, status__in=TRANSIENT_FAULT_STATUSES)
        .order_by("pk")  # the lock order of every multi-row office write (bulk.rows_lock)
    )
    for office in faulty:
        office_status_set(office=office, status=OfficeStatus.OK, now=now)
        office.last_success_at, office.last_error, office.consecutive_failures = now, "", 0
        office.save(update_fields=["status", "status_since", "last_success_at", "last_error",
                                   "consecutive_failures"])  # fmt: skip


def error_text(exc: Exception) -> str:
    """The stored and shown error: the cause (status, error class) and the client's message.

    The message is all the body that is shown: the client quotes only Open Dental's own short
    error text and describes anything else (an HTML page, a long or binary body) without
    quoting it, since every member of the account reads this, and the answer may come from
    something that is not Open Dental.
    """
    status = getattr(exc, "status", None)
    # classify()'s messages start with "HTTP 400: ": the status is said once, up front.
    message = str(exc).removeprefix(f"HTTP {status}: ") if status else str(exc)
    text = f"{type(exc).__name__}: {message}"
    if status:
        text = f"HTTP {status} · {text}"
    return od.one_line(text, ERROR_TEXT_LIMIT)


def next_health_at(office: Office, now: datetime) -> datetime:
    """When the office's next health poll is due: a key Open Dental disabled less often, a
    first failure confirmed soon (the alerts' grace of two failed polls then costs a minute,
    not a whole interval, and a one-off fault clears as quickly)."""
    interval = office.health_interval_s
    if office.status == OfficeStatus.KEY_DISABLED:
        interval = max(interval, settings.KEY_DISABLED_RECHECK_S)
    elif office.consecutive_failures == 1:
        interval = min(interval, settings.HEALTH_CONFIRM_S)
    return now + timedelta(seconds=interval)
