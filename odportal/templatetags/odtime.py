"""Template filters for times and counts, built in for every template (settings.TEMPLATES):
``{{ t|ago }}``, ``{{ t|when }}`` / ``{{ t|when:office.time_zone }}``,
``{{ n|plural:"office" }}``."""

from __future__ import annotations

from django import template
from django.utils.html import format_html

from odportal.lib import timefmt

register = template.Library()


@register.filter
def ago(moment) -> str:
    """'just now', '5 minutes ago', 'in 3 minutes' (use instead of timesince/timeuntil)."""
    return timefmt.ago(moment)


@register.filter
def when(moment, zone_name: str = "") -> str:
    """The one time format with the zone named: the given zone (an office's) or the viewer's."""
    return timefmt.when(moment, zone_name or None)


@register.filter
def clock(moment, zone_name: str = "") -> str:
    """The time of day (HH:MM:SS) in the given zone or the viewer's."""
    return timefmt.clock(moment, zone_name or None)


@register.filter
def plural(count, words: str) -> str:
    """'1 office' / '3 offices'; 'person,people' for irregular words."""
    word, _, many = words.partition(",")
    return timefmt.plural(int(count or 0), word, many)


@register.simple_tag
def time_tag(moment, zone_name: str = ""):
    """<time> with the machine-readable instant, the formatted time, and how long ago."""
    if moment is None:
        return ""
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        moment.isoformat(),
        timefmt.ago(moment),
        timefmt.when(moment, zone_name or None),
    )
