"""Quiet hours in the office's own time zone (a frozen clock: ``now`` is passed in)."""

from __future__ import annotations

from datetime import UTC, datetime, time

from integrations.alerts.services.quiet import quiet_release

NIGHT = (time(19, 0), time(7, 0))


def test_outside_the_window_a_message_goes_now():
    noon_ny = datetime(2026, 3, 4, 17, 0, tzinfo=UTC)  # Wednesday 12:00 in New York
    assert quiet_release(noon_ny, time_zone="America/New_York", window=NIGHT, days=[]) == noon_ny


def test_2am_in_the_office_waits_for_its_opening():
    two_am_ny = datetime(2026, 3, 4, 7, 0, tzinfo=UTC)  # 02:00 EST
    release = quiet_release(two_am_ny, time_zone="America/New_York", window=NIGHT, days=[])
    assert release == datetime(2026, 3, 4, 12, 0, tzinfo=UTC)  # 07:00 EST


def test_the_same_instant_is_daytime_for_an_office_elsewhere():
    two_am_ny = datetime(2026, 3, 4, 7, 0, tzinfo=UTC)  # 08:00 in Berlin
    assert quiet_release(two_am_ny, time_zone="Europe/Berlin", window=NIGHT, days=[]) == two_am_ny


def test_saturday_afternoon_is_open():
    afternoon = datetime(2026, 3, 7, 23, 30, tzinfo=UTC)  # Saturday 17:30 in Chicago
    release = quiet_release(afternoon, time_zone="America/Chicago", window=NIGHT, days=[6])
    assert release == afternoon


def test_a_closed_sunday_waits_for_monday_opening():
    saturday_night = datetime(2026, 3, 8, 2, 0, tzinfo=UTC)  # Saturday 20:00 in Chicago
    release = quiet_release(saturday_night, time_zone="America/Chicago", window=NIGHT, days=[6])
    # The night, then closed Sunday (the clocks go forward), then Monday 07:00 CDT.
    assert release == datetime(2026, 3, 9, 12, 0, tzinfo=UTC)
