"""Quiet hours in the office's own time zone: when a message may go out."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _in_window(at: time, start: time, end: time) -> bool:
    if start <= end:
        return start <= at < end
    return at >= start or at < end  # the window spans midnight (19:00-07:00)


def quiet_release(
    now: datetime, *, time_zone: str, window: tuple[time, time] | None, days: list[int]
) -> datetime:
    """``now``, or when the quiet hours (a daily window, closed weekdays) in ``time_zone`` end."""
    if window is None and not days:
        return now
    tz = _zone(time_zone)
    at = now.astimezone(tz)
    for _ in range(16):  # at most a week of closed days plus each day's window
        if at.weekday() in days:
            at = datetime.combine(at.date() + timedelta(days=1), time(0), tzinfo=tz)
        elif window and _in_window(at.time().replace(tzinfo=None), *window):
            end = datetime.combine(at.date(), window[1], tzinfo=tz)
            at = end if end > at else end + timedelta(days=1)
        else:
            break
    return now if at == now else at.astimezone(UTC)
