"""Incidents from office health: opened past the grace, kept current, resolved when OK again.

``incidents_evaluate`` runs after every sweep (the ``alerts.evaluate`` task): a handful of
set-based statements whatever the fleet's size, never a query per office. It also evaluates
the causes that are not office statuses (``causes``: API Events stopped, aging drift); the
deployment's own incident is opened by the watchers (``deployment``), since a stopped worker
or beat cannot run this task.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db.models import Exists, F, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from integrations.accounts.services.audit import audit_record
from integrations.alerts.models import (
    DEFAULT_GRACE_POLLS,
    AlertSettings,
    Incident,
    IncidentSource,
    Resolution,
)
from integrations.alerts.services import causes
from integrations.offices.models import PROBLEM_STATUSES, CustomerKey, KeyStatus, Office


def offices_monitored() -> QuerySet[Office]:
    """Offices that can have incidents: polling on, and not a key the vendor disabled itself."""
    vendor_disabled = CustomerKey.objects.filter(
        office=OuterRef("pk"), is_current=True, status=KeyStatus.DISABLED_BY_DEVELOPER
    )
    return Office.objects.filter(polling_enabled=True).exclude(Exists(vendor_disabled))


def offices_past_grace() -> QuerySet[Office]:
    """Monitored offices whose problem status has held for the account's grace (failed polls)."""
    grace = AlertSettings.objects.filter(account=OuterRef("account_id")).values("grace_polls")
    return (
        offices_monitored()
        .filter(status__in=PROBLEM_STATUSES)
        .annotate(grace=Coalesce(Subquery(grace[:1]), Value(DEFAULT_GRACE_POLLS)))
        .filter(consecutive_failures__gte=F("grace"))
    )


def incidents_evaluate(*, now: datetime) -> dict[str, int]:
    """Open, refresh and resolve incidents for every office (a few statements in all)."""
    result = {
        "resolved": _resolve(now),
        "updated": _refresh_open(),
        "opened": _open_new(now),
    }
    for other in (causes.events_stopped_evaluate(now=now), causes.aging_drift_evaluate(now=now)):
        for name, n in other.items():
            result[name] += n
    return result


def _status_open() -> QuerySet[Incident]:
    return Incident.objects.filter(resolved_at__isnull=True, source=IncidentSource.OFFICE_STATUS)


def _open_new(now: datetime) -> int:
    has_open = _status_open().values("office_id")
    rows = (
        offices_past_grace()
        .exclude(pk__in=has_open)
        .values_list(
            "pk", "account_id", "status", "status_since", "last_polled_at", "consecutive_failures"
        )
    )
    new = [
        Incident(office_id=pk, account_id=account_id, cause=status, first_seen=since or now,
                 last_seen=polled or now, count=failures, opened_at=now)
        for pk, account_id, status, since, polled, failures in rows.iterator(chunk_size=2000)
    ]  # fmt: skip
    # A concurrent evaluation may have opened some: the one-open-per-office constraint wins.
    Incident.objects.bulk_create(new, batch_size=1000, ignore_conflicts=True)
    return len(new)


def _refresh_open() -> int:
    """Open incidents follow their office: the cause now shown, last poll, failure count."""
    office = Office.objects.filter(pk=OuterRef("office_id"))
    return (
        _status_open()
        .filter(office__status__in=PROBLEM_STATUSES)
        # Only those whose office changed: a steady sweep rewrites no rows.
        .exclude(
            cause=F("office__status"),
            count=F("office__consecutive_failures"),
            last_seen=F("office__last_polled_at"),
        )
        .update(
            cause=Subquery(office.values("status")[:1]),
            last_seen=Coalesce(Subquery(office.values("last_polled_at")[:1]), F("last_seen")),
            count=Subquery(office.values("consecutive_failures")[:1]),
        )
    )


def _resolve(now: datetime) -> int:
    """OK again: resolved (and announced); no longer monitored: closed without a message."""
    open_ = _status_open()
    quiet = open_.exclude(office_id__in=offices_monitored().values("pk")).update(
        resolved_at=now, resolution=Resolution.NOT_MONITORED, resolve_planned=True
    )
    healthy = open_.filter(~Q(office__status__in=PROBLEM_STATUSES)).update(
        resolved_at=now, resolution=Resolution.OK
    )
    return quiet + healthy


def incident_acknowledge(*, incident: Incident, actor, now: datetime) -> Incident:
    """Someone is on it: record who and when (once; a second acknowledgement changes nothing)."""
    if incident.acknowledged_at is None:
        incident.acknowledged_at, incident.acknowledged_by = now, actor
        incident.save(update_fields=["acknowledged_at", "acknowledged_by"])
        _audit(incident, actor, "incident.acknowledge", {})
    return incident


MUTE_HOURS_MAX = 24 * 30


def incident_mute(*, incident: Incident, actor, hours: int, now: datetime) -> Incident:
    """Hold this incident's messages for ``hours`` (0 unmutes); it stays open and counted."""
    if not 0 <= hours <= MUTE_HOURS_MAX:
        raise ValidationError({"hours": f"Between 0 and {MUTE_HOURS_MAX} hours."})
    incident.muted_until = now + timedelta(hours=hours) if hours else None
    incident.muted_by = actor if hours else None
    incident.save(update_fields=["muted_until", "muted_by"])
    _audit(incident, actor, "incident.mute", {"hours": hours})
    return incident


def _audit(incident: Incident, actor, action: str, detail: dict) -> None:
    audit_record(
        account=incident.account, actor=actor, action=action, obj=incident,
        detail={"office_id": incident.office_id, "cause": incident.cause, **detail},
    )  # fmt: skip
