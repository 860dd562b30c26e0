"""The API Events dead-man switch: an inbox that expects deliveries and hears nothing for
longer than its cadence, during the office's opening hours, is marked stopped.

Open Dental posts only when watched rows changed, so the cadence is a multiple of the shortest
PollingSeconds with a floor (EVENTS_DEADMAN_*). Opening hours are the deployment's default
(weekdays 8-18 in the office's time zone) [U: offices hold no hours yet]; silence is counted
from the latest of the last delivery, the start of watching and today's opening, so a night
or a weekend never trips it. The stopped mark is what an incident of the alerts app reads.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone

from integrations.apitools.models import EventInbox
from integrations.opendental import Subscription

log = logging.getLogger(__name__)
STOPPED_TEXT = "API Events stopped: the workstation running Open Dental may be off"


def event_inbox_expect(*, inbox: EventInbox, subs: list[Subscription], url: str) -> None:
    """Set the inbox's expected cadence from the subscriptions that post to it (0: none)."""
    seconds = [s.polling_seconds for s in subs if s.end_point_url == url and s.polling_seconds]
    every = min(seconds, default=0)
    if every == inbox.expected_every_s:
        return
    inbox.expected_every_s = every
    inbox.watching_since = timezone.now() if every else None
    inbox.stopped_at = None
    inbox.save(update_fields=["expected_every_s", "watching_since", "stopped_at"])


def _opened_at(now: datetime, tz_name: str) -> datetime | None:
    """When the office opened today (local hours), or None while it is closed."""
    local = now.astimezone(ZoneInfo(tz_name or "UTC"))
    start, end = settings.EVENTS_DEADMAN_HOURS
    if settings.EVENTS_DEADMAN_WEEKDAYS_ONLY and local.weekday() >= 5:
        return None
    if not start <= local.hour < end:
        return None
    return local.replace(hour=start, minute=0, second=0, microsecond=0)


def event_inbox_is_silent(inbox: EventInbox, now: datetime) -> bool:
    """Whether the inbox has heard nothing for longer than its cadence, in opening hours."""
    opened = _opened_at(now, inbox.office.time_zone)
    if not inbox.expected_every_s or opened is None:
        return False
    limit = max(settings.EVENTS_DEADMAN_MIN_S,
                settings.EVENTS_DEADMAN_FACTOR * inbox.expected_every_s)  # fmt: skip
    since = max(t for t in (inbox.last_received_at, inbox.watching_since, opened) if t)
    return now - since > timedelta(seconds=limit)


def event_inboxes_deadman(*, now: datetime | None = None) -> int:
    """Mark the silent inboxes stopped (each once, until a delivery clears it)."""
    now = now or timezone.now()
    watched = EventInbox.objects.filter(expected_every_s__gt=0, stopped_at__isnull=True)
    stopped = 0
    for inbox in watched.select_related("office"):
        if event_inbox_is_silent(inbox, now):
            # Conditional: a delivery that landed meanwhile wins.
            stopped += EventInbox.objects.filter(
                pk=inbox.pk, stopped_at__isnull=True, last_received_at=inbox.last_received_at
            ).update(stopped_at=now)
            log.warning("%s (office %s)", STOPPED_TEXT, inbox.office_id)
    return stopped
