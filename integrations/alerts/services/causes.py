"""Incidents whose cause is not an office status: an office's API Events stopped (the dead-man
switch of the API tools marks its inbox), and an account's aging drift rule.

Each is one source with at most one open incident per office: opened while its condition
holds, resolved (and announced, like an office OK again) once it no longer does. Set-based,
like the office-status evaluation: a few statements whatever the fleet's size.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import DecimalField, ExpressionWrapper, F, OuterRef, QuerySet, Subquery

from integrations.alerts.models import (
    AlertSettings,
    Incident,
    IncidentSource,
    OtherCause,
    Resolution,
)
from integrations.apitools.models import EventInbox
from integrations.offices.models import AgingSnapshot, Office, SnapshotState

EVENTS_STOPPED_TEXT = "API Events stopped: the workstation running Open Dental may be off"
DRIFT_WEEK = timedelta(days=7)


def _open(source: str) -> QuerySet[Incident]:
    return Incident.objects.filter(resolved_at__isnull=True, source=source)


def _resolve_except(source: str, office_ids: QuerySet, now: datetime) -> int:
    """Resolve the source's open incidents whose office no longer meets the condition."""
    return (
        _open(source)
        .exclude(office_id__in=office_ids)
        .update(resolved_at=now, resolution=Resolution.OK)
    )


def events_stopped_evaluate(*, now: datetime) -> dict[str, int]:
    """An incident per office whose API Events inbox is marked stopped; resolved when a
    delivery clears the mark (or no subscription posts there any more)."""
    stopped = EventInbox.objects.filter(stopped_at__isnull=False, expected_every_s__gt=0)
    resolved = _resolve_except(IncidentSource.API_EVENTS, stopped.values("office_id"), now)
    rows = stopped.exclude(
        office_id__in=_open(IncidentSource.API_EVENTS).values("office_id")
    ).values_list("office_id", "office__account_id", "stopped_at", "last_received_at",
                  "watching_since")  # fmt: skip
    new = [
        Incident(office_id=office_id, account_id=account_id, source=IncidentSource.API_EVENTS,
                 cause=OtherCause.EVENTS_STOPPED, first_seen=received or since or stopped_at,
                 last_seen=stopped_at, opened_at=now, detail=EVENTS_STOPPED_TEXT)
        for office_id, account_id, stopped_at, received, since in rows
    ]  # fmt: skip
    Incident.objects.bulk_create(new, ignore_conflicts=True)
    return {"opened": len(new), "resolved": resolved}


def offices_drifting(*, now: datetime) -> QuerySet[Office]:
    """Offices of accounts with the drift rule whose current 90+ bucket exceeds the one of a
    week ago by more than the rule's percentage (``week_over_90`` and ``drift_pct`` annotated).
    A week ago is the newest complete snapshot fetched at least 7 days before now."""
    rule = AlertSettings.objects.filter(account=OuterRef("account_id")).values("aging_drift_pct")
    week_ago = (
        AgingSnapshot.objects.filter(
            office=OuterRef("pk"), state=SnapshotState.COMPLETE, is_as_of_request=False,
            fetched_at__lte=now - DRIFT_WEEK,
        ).order_by("-fetched_at").values("bal_over_90")
    )  # fmt: skip
    money = DecimalField(max_digits=20, decimal_places=4)
    return (
        Office.objects.filter(current_snapshot__isnull=False)
        .annotate(drift_pct=Subquery(rule[:1]), week_over_90=Subquery(week_ago[:1]))
        .filter(drift_pct__isnull=False, week_over_90__gt=0)
        .annotate(limit=ExpressionWrapper(
            F("week_over_90") * (F("drift_pct") + Decimal(100)) / Decimal(100),
            output_field=money))
        .filter(aging_over_90__gt=F("limit"))
    )  # fmt: skip


def aging_drift_evaluate(*, now: datetime) -> dict[str, int]:
    """An incident per office past its account's drift rule; resolved when it is not."""
    drifting = offices_drifting(now=now)
    resolved = _resolve_except(IncidentSource.AGING_DRIFT, drifting.values("pk"), now)
    rows = drifting.exclude(
        pk__in=_open(IncidentSource.AGING_DRIFT).values("office_id")
    ).values_list("pk", "account_id", "aging_over_90", "week_over_90", "drift_pct")
    new = [
        Incident(office_id=pk, account_id=account_id, source=IncidentSource.AGING_DRIFT,
                 cause=OtherCause.AGING_DRIFT, first_seen=now, last_seen=now, opened_at=now,
                 detail=_drift_text(over_90, week, pct))
        for pk, account_id, over_90, week, pct in rows
    ]  # fmt: skip
    Incident.objects.bulk_create(new, ignore_conflicts=True)
    return {"opened": len(new), "resolved": resolved}


def _drift_text(over_90: Decimal, week: Decimal, pct: int) -> str:
    grew = (Decimal(over_90) - Decimal(week)) / Decimal(week) * 100
    return f"90+ bucket {over_90:,.2f}, up {grew:.0f}% from {week:,.2f} a week ago (rule: {pct}%)"
