"""Server-drawn SVG line charts: geometry for a template to draw, with axes, dates and values.

No JavaScript library and no inline styles (the CSP forbids them): the template
(``_line_chart.html``) draws lines, circles and text from these numbers, and each point carries
a ``<title>`` (date and value) for a hover tooltip. Both the office's aging trend and the
fleet's use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

from django.utils import timezone

# Room for the value labels left of the plot and the dates under it.
LEFT, RIGHT, TOP, BOTTOM = 78, 12, 10, 28


@dataclass(frozen=True)
class ChartPoint:
    x: float
    y: float
    label: str  # date and value, for the point's tooltip


@dataclass(frozen=True)
class Tick:
    at: float  # x for a date tick, y for a value tick
    label: str


@dataclass(frozen=True)
class LineChart:
    """A line's geometry in a ``width`` x ``height`` viewBox; empty below two points."""

    width: int
    height: int
    points: str = ""
    markers: list[ChartPoint] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    x_ticks: list[Tick] = field(default_factory=list)
    plot_left: int = LEFT
    plot_right: int = 0
    plot_bottom: int = 0

    @property
    def drawn(self) -> bool:
        return bool(self.points)


def _seconds(moment: date | datetime) -> float:
    if isinstance(moment, datetime):
        return moment.timestamp()
    return datetime(moment.year, moment.month, moment.day, tzinfo=UTC).timestamp()


def nice_ceiling(value: Decimal) -> Decimal:
    """The smallest 1, 2, 2.5 or 5 times a power of ten at or above ``value`` (axis top)."""
    if value <= 0:
        return Decimal(1)
    power = Decimal(10) ** (len(str(int(value))) - 1)
    for step in (1, 2, Decimal("2.5"), 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power  # pragma: no cover - the loop ends at 10 x power


def money_label(value: Decimal) -> str:
    """12,500 / 1.2M: short enough for the value axis."""
    if abs(value) >= 1_000_000:
        return f"{value / 1_000_000:,.1f}M"
    return f"{value:,.0f}"


def line_chart(
    series: Sequence[tuple[date | datetime, Decimal]], *, width: int = 560, height: int = 180
) -> LineChart:
    """A line through ``(moment, value)`` pairs (oldest first), x by time, y from zero to a
    rounded top, with three value ticks and up to three date ticks."""
    if len(series) < 2:
        return LineChart(width=width, height=height)
    right, bottom = width - RIGHT, height - BOTTOM
    first, last = _seconds(series[0][0]), _seconds(series[-1][0])
    span = (last - first) or 1.0
    top_value = nice_ceiling(max(max(v for _m, v in series), Decimal("0.01")))

    def x(moment) -> float:
        return LEFT + (_seconds(moment) - first) / span * (right - LEFT)

    def y(value: Decimal) -> float:
        return bottom - float(max(value, Decimal(0)) / top_value) * (bottom - TOP)

    markers = [ChartPoint(x(m), y(v), f"{_day(m)}: {v:,.2f}") for m, v in series]
    picks = {0, len(series) // 2, len(series) - 1}
    return LineChart(
        width=width,
        height=height,
        points=" ".join(f"{p.x:.1f},{p.y:.1f}" for p in markers),
        markers=markers,
        y_ticks=[Tick(y(v), money_label(v)) for v in (Decimal(0), top_value / 2, top_value)],
        x_ticks=[Tick(markers[i].x, _day(series[i][0])) for i in sorted(picks)],
        plot_right=right,
        plot_bottom=bottom,
    )


def _day(moment: date | datetime) -> str:
    if isinstance(moment, datetime):
        return timezone.localtime(moment).date().isoformat()
    return moment.isoformat()
