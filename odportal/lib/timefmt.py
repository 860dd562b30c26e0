"""How times and counts are said, once: "just now" / "3 hours ago", "1 office" / "2 offices",
and one time format that names its zone (the office's where the office is the subject, else
the viewer's)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils import timezone

TIME_FORMAT = "%Y-%m-%d %H:%M"
_UNITS = ((86400 * 365, "year"), (86400 * 30, "month"), (86400 * 7, "week"), (86400, "day"),
          (3600, "hour"), (60, "minute"))  # fmt: skip


def plural(count: int, word: str, many: str = "") -> str:
    """'1 office', '2 offices', '0 offices' (``many`` for irregular plurals)."""
    return f"{count:,} {word if count == 1 else many or word + 's'}"


def span(seconds: float) -> str:
    """A duration in its largest unit: '3 hours', '1 day'; under a minute is ''."""
    seconds = int(abs(seconds))
    for size, unit in _UNITS:
        if seconds >= size:
            return plural(seconds // size, unit)
    return ""


def ago(moment: dt.datetime | None, now: dt.datetime | None = None) -> str:
    """'just now', '5 minutes ago', or for a future moment 'in 5 minutes'; '' for None."""
    if moment is None:
        return ""
    seconds = ((now or timezone.now()) - moment).total_seconds()
    text = span(seconds)
    if not text:
        return "just now" if seconds >= 0 else "in under a minute"
    return f"{text} ago" if seconds >= 0 else f"in {text}"


def zone(name: str | None) -> dt.tzinfo:
    """The named IANA zone, or the viewer's (the active zone) when unknown or empty."""
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return timezone.get_current_timezone()


def when(moment: dt.datetime | None, zone_name: str | None = None) -> str:
    """'2026-12-01 08:35 CST': the one time format, in the office's zone if given, else the
    viewer's, with the zone named."""
    if moment is None:
        return ""
    local = moment.astimezone(zone(zone_name)) if timezone.is_aware(moment) else moment
    return f"{local.strftime(TIME_FORMAT)} {local.tzname() or ''}".rstrip()


def clock(moment: dt.datetime | None, zone_name: str | None = None) -> str:
    """'08:35:12': the time of day only, in the same zone as ``when`` (for columns whose
    date and zone another column already names)."""
    if moment is None:
        return ""
    return moment.astimezone(zone(zone_name)).strftime("%H:%M:%S")
