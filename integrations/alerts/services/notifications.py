"""Which messages an incident sends: one when it opens, one when it resolves, each per channel.

Planned once per incident (``open_planned`` / ``resolve_planned``), as Delivery rows held
until the office's quiet hours end; ``deliveries`` sends them. A second fault while the
incident is open changes the incident, not the messages.

Rules, per channel: the causes it receives (``Channel.causes``, empty: all) and those that go
only into the daily digest (``Channel.digest_only``). The repeat cap is per account, office
and cause across incidents (``AlertSettings.repeat_hours``): within one incident there is
never more than one opening and one resolution message (a unique constraint), so a flapping
office is what the cap is for.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta

from django.db import transaction

from integrations.alerts.models import (
    AlertSettings,
    Channel,
    Delivery,
    DeliveryEvent,
    DeliveryState,
    Incident,
    Resolution,
)
from integrations.alerts.services.quiet import quiet_release

PLAN_BATCH = 2000  # incidents planned per evaluation; the rest wait for the next


def notifications_plan(*, now: datetime) -> dict[str, int]:
    """Create the deliveries of newly opened and newly resolved incidents."""
    with transaction.atomic():
        opened = _plan(now, DeliveryEvent.OPENED)
        resolved = _plan(now, DeliveryEvent.RESOLVED)
    return {"opened": opened, "resolved": resolved}


def _pending(event: str):
    if event == DeliveryEvent.OPENED:
        return Incident.objects.filter(open_planned=False), "open_planned"
    return (
        Incident.objects.filter(
            resolve_planned=False, resolved_at__isnull=False, resolution=Resolution.OK
        ),
        "resolve_planned",
    )


def _plan(now: datetime, event: str) -> int:
    pending, flag = _pending(event)
    incidents = list(pending.select_related("office").order_by("pk")[:PLAN_BATCH])
    if not incidents:
        return 0
    accounts = {i.account_id for i in incidents}
    channels = _channels_by_account(accounts)
    policy = {s.account_id: s for s in AlertSettings.objects.filter(account_id__in=accounts)}
    if event == DeliveryEvent.OPENED:
        skip = _repeats(incidents, policy, now)
        targets = {
            i.pk: [pk for pk, receives in channels.get(i.account_id, []) if receives(i.cause)]
            for i in incidents if i.pk not in skip
        }  # fmt: skip
    else:
        # A resolution goes where the opening went (the rules may have changed since).
        targets = _announced_to(incidents)
    new = [
        Delivery(channel_id=channel_id, incident=i, event=event, created_at=now,
                 not_before=_release(i, policy.get(i.account_id), now))
        for i in incidents for channel_id in targets.get(i.pk, [])
    ]  # fmt: skip
    Delivery.objects.bulk_create(new, batch_size=1000, ignore_conflicts=True)
    Incident.objects.filter(pk__in=[i.pk for i in incidents]).update(**{flag: True})
    return len(new)


def channel_receives(causes: list[str], digest_only: list[str]) -> Callable[[str], bool]:
    """Whether a channel with these rules gets its own message for a cause."""
    wanted, held = set(causes or []), set(digest_only or [])
    return lambda cause: (not wanted or cause in wanted) and cause not in held


def _channels_by_account(accounts: set[int]) -> dict[int, list[tuple[int, Callable]]]:
    found: dict[int, list[tuple[int, Callable]]] = defaultdict(list)
    rows = Channel.objects.filter(account_id__in=accounts, enabled=True).values_list(
        "account_id", "pk", "causes", "digest_only"
    )
    for account_id, pk, causes, digest_only in rows:
        found[account_id].append((pk, channel_receives(causes, digest_only)))
    return found


def _release(incident: Incident, policy: AlertSettings | None, now: datetime) -> datetime:
    # The deployment's own incident has no office, hence no office hours: it goes now.
    if policy is None or incident.office is None:
        return now
    return quiet_release(
        now, time_zone=incident.office.time_zone, window=policy.quiet_window,
        days=list(policy.quiet_days or []),
    )  # fmt: skip


def _repeats(incidents: list[Incident], policy: dict, now: datetime) -> set[int]:
    """Incidents whose office had the same cause announced within the repeat window (a
    flapping eConnector is one message per window, not one per flap)."""
    horizon = now - timedelta(hours=max((p.repeat_hours for p in policy.values()), default=6))
    recent = (
        Delivery.objects.filter(
            event=DeliveryEvent.OPENED, created_at__gte=horizon,
            incident__account_id__in={i.account_id for i in incidents},
        )
        .exclude(incident_id__in=[i.pk for i in incidents])
        .values_list("incident__account_id", "incident__office_id", "incident__cause",
                     "created_at")
    )  # fmt: skip
    last: dict = {}
    for account, office, cause, at in recent:
        last[(account, office, cause)] = max(at, last.get((account, office, cause), at))
    skip = set()
    for i in incidents:
        hours = policy[i.account_id].repeat_hours if i.account_id in policy else 6
        at = last.get((i.account_id, i.office_id, i.cause))
        if at is not None and at >= now - timedelta(hours=hours):
            skip.add(i.pk)
    return skip


def _announced_to(incidents: list[Incident]) -> dict[int, list[int]]:
    """The channels each resolved incident's opening went to (none: nobody heard of it). An
    opening still held by quiet hours is cancelled: the problem came and went while the office
    was closed."""
    ids = [i.pk for i in incidents]
    Delivery.objects.filter(
        incident_id__in=ids, event=DeliveryEvent.OPENED, state=DeliveryState.PENDING,
        attempts=0,
    ).update(state=DeliveryState.CANCELLED, error="Resolved before it was sent.")  # fmt: skip
    announced: dict[int, list[int]] = defaultdict(list)
    rows = (
        Delivery.objects.filter(incident_id__in=ids, event=DeliveryEvent.OPENED)
        .exclude(state=DeliveryState.CANCELLED)
        .values_list("incident_id", "channel_id")
    )
    for incident_id, channel_id in rows:
        announced[incident_id].append(channel_id)
    return announced
