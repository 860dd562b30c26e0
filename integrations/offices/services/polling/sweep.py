"""The sweep (beat, every ``SWEEP_INTERVAL_S``): which offices are due, and when each is next.

A short loop that hands each due office to ``dispatch`` and carries on past any one failure;
it also re-sends runs whose message was lost.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import DateTimeField, ExpressionWrapper, F, Q, QuerySet, Value
from django.utils import timezone

from integrations.offices.models import (
    ANSWERING_STATUSES,
    CustomerKey,
    KeyStatus,
    Office,
    PollKind,
)
from integrations.offices.services.aging import recipe
from integrations.offices.services.keys import customer_keys_settle_moved
from integrations.offices.services.polling import dispatch
from odportal.lib import bulk
from odportal.lib.durations import seconds_column

# Key states that Open Dental reported (not our own decisions): a health poll finds out when
# they end, and a successful one marks the key enabled again.
RECHECKED_KEY_STATUSES = (KeyStatus.DISABLED_BY_CUSTOMER, KeyStatus.DISABLED_BY_HQ)
HEALTH_POLLED_KEY_STATUSES = (KeyStatus.ENABLED, *RECHECKED_KEY_STATUSES)

PUSH_BATCH = 1000


def offices_pollable() -> QuerySet[Office]:
    """Offices with polling on and an enabled current key (not disabled, not pending a move)."""
    return Office.objects.filter(
        polling_enabled=True, keys__is_current=True, keys__status=KeyStatus.ENABLED
    ).exclude(account__developer_key_encrypted="")


def offices_health_pollable() -> QuerySet[Office]:
    """Pollable offices, and those whose current key Open Dental reported disabled.

    Nobody tells us when an office enables its key again in Open Dental, so such keys keep
    being checked, at the slower ``KEY_DISABLED_RECHECK_S`` (see ``health.next_health_at``).
    A key we disabled ourselves is not polled, nor one within 15 minutes of a move.
    """
    return Office.objects.filter(
        polling_enabled=True, keys__is_current=True, keys__status__in=HEALTH_POLLED_KEY_STATUSES
    ).exclude(account__developer_key_encrypted="")


def next_health_check(
    office: Office, keys: list[CustomerKey], now: datetime | None = None
) -> tuple[datetime | None, str]:
    """When the sweep next health-polls the office, or why not (for the office page).

    Mirrors ``offices_health_pollable``: (time, "") when one is planned, else (None, reason).
    """
    now = now or timezone.now()
    current = next((k for k in keys if k.is_current), None)
    if not office.polling_enabled:
        return None, "Polling is off for this office."
    if not office.account.has_developer_key:
        return None, "Not polled: the account has no developer key."
    if current is None:
        return None, "Not polled: the office has no current key."
    if current.status == KeyStatus.PENDING_MOVE:
        return None, "Not polled until the moved key works here (up to 15 minutes)."
    if current.status not in HEALTH_POLLED_KEY_STATUSES:
        return None, "Not polled: the current key is disabled."
    if office.next_health_at is None or office.next_health_at <= now:
        return None, "Due: at the next sweep."
    return office.next_health_at, ""


def health_horizon(now: datetime) -> datetime:
    """Health polls due before this go now: every one due before the next sweep, each to begin
    at its own due time (``health_batch``), so no interval stretches to the next sweep."""
    return now + timedelta(seconds=settings.SWEEP_INTERVAL_S)


def sweep_due_offices(*, now: datetime | None = None) -> dict[str, int]:
    """Queue a poll for every due office and re-send lost runs; one failure never stops it."""
    now = now or timezone.now()
    customer_keys_settle_moved(now=now)
    queued = {"health": 0, "aging": 0, "failed": 0, "resent": 0}
    horizon = health_horizon(now)
    due_health = (
        offices_health_pollable()
        .filter(Q(next_health_at=None) | Q(next_health_at__lte=horizon))
        # In due order, so each batch holds offices due close together and ends soon after.
        .order_by(F("next_health_at").asc(nulls_first=True), "pk")
    )
    due_aging = offices_pollable().filter(
        Q(next_aging_at=None) | Q(next_aging_at__lte=now), status__in=ANSWERING_STATUSES
    )
    for kind, qs in ((PollKind.HEALTH, due_health), (PollKind.AGING, due_aging)):
        offices = qs.select_related("account").iterator(chunk_size=500)
        sent: list[Office] = []
        # Broker down: nothing more is sent now, and the next sweep tries again.
        dispatch.polls_queue(offices, kind, counts=queued, on_sent=sent.append)
        _push_next(sent, kind, now)
    try:
        queued["resent"] = dispatch.runs_resend_stale()
    except dispatch.WorkersUnavailable:
        queued["failed"] += 1
    return queued


def _push_next(offices: list[Office], kind: str, now: datetime) -> None:
    """The sent offices' next poll of ``kind`` moves past the sweep (so the next one skips
    them), a statement per thousand offices rather than one each: a sweep's largest share of
    writes otherwise. Only rows still due are written: a poll that already finished has set
    its own next time (a confirmation 30 s on, say), which must stand."""
    horizon = health_horizon(now)
    for start in range(0, len(offices), PUSH_BATCH):
        chunk = offices[start : start + PUSH_BATCH]
        ids = [office.pk for office in chunk]
        if kind == PollKind.HEALTH:
            # Any time past the horizon holds them; the run writes the exact one when it ends.
            interval = seconds_column("health_interval_s")
            with transaction.atomic():
                bulk.rows_lock(Office, ids)  # in one order with the batches' writes
                Office.objects.filter(pk__in=ids).filter(
                    Q(next_health_at=None) | Q(next_health_at__lte=horizon)
                ).update(next_health_at=ExpressionWrapper(
                    Value(now) + interval, output_field=DateTimeField()
                ))  # fmt: skip
            continue
        due = set(
            Office.objects.filter(pk__in=ids)
            .filter(Q(next_aging_at=None) | Q(next_aging_at__lte=now))
            .values_list("pk", flat=True)
        )
        # Re-armed by the run itself once it knows DateLastAging; this only prevents re-queuing.
        still = [office for office in chunk if office.pk in due]
        for office in still:
            office.next_aging_at = recipe.next_aging_at(office, now)
        bulk.rows_update(still, ["next_aging_at"])
