"""The Open Dental preferences odportal reads, and how their text values are read.

Preference values are text (``preference.ValueString``), not typed columns: a date comes back
as stored, lenient parsing is right here where the strict JSON parsers would refuse.
"""

from __future__ import annotations

from datetime import date
from datetime import time as dtime

PREF_VERSION = "ProgramVersion"
PREF_DATE_LAST_AGING = "DateLastAging"
PREF_AGING_TIME_DUE = "AgingServiceTimeDue"


def parse_pref_date(value: str | None) -> date | None:
    """DateLastAging: 'yyyy-MM-dd' (maybe with a time); '0001-01-01' or junk means none."""
    if not value:
        return None
    try:
        parsed = date.fromisoformat(value.strip()[:10])
    except ValueError:
        return None
    return None if parsed.year <= 1 else parsed


def parse_pref_time(value: str | None) -> dtime | None:
    """AgingServiceTimeDue: a datetime whose date part is ignored (apisetup.html)."""
    if not value:
        return None
    text = value.strip()
    for candidate in (text[-8:], text):
        try:
            return dtime.fromisoformat(candidate)
        except ValueError:
            continue
    return None
