"""The SVG line chart's geometry: x by time, y from zero to a rounded top, ticks and labels."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from odportal.lib.charts import BOTTOM, LEFT, RIGHT, TOP, line_chart, money_label, nice_ceiling


def test_fewer_than_two_points_draw_nothing():
    assert not line_chart([]).drawn
    assert not line_chart([(date(2026, 1, 1), Decimal(5))]).drawn


def test_points_are_placed_by_time_and_value_within_the_plot():
    series = [(date(2026, 1, 1), Decimal(0)), (date(2026, 1, 2), Decimal(50)),
              (date(2026, 1, 11), Decimal(100))]  # fmt: skip
    chart = line_chart(series, width=400, height=200)
    xs = [p.x for p in chart.markers]
    ys = [p.y for p in chart.markers]
    assert xs[0] == LEFT and xs[-1] == 400 - RIGHT
    assert xs[1] - xs[0] == (xs[2] - xs[0]) / 10  # one day of ten
    assert ys[0] == 200 - BOTTOM and ys[2] == TOP and ys[1] == (ys[0] + ys[2]) / 2
    assert [t.label for t in chart.y_ticks] == ["0", "50", "100"]
    assert [t.label for t in chart.x_ticks] == ["2026-01-01", "2026-01-02", "2026-01-11"]
    assert chart.markers[1].label == "2026-01-02: 50.00"


def test_the_value_axis_top_is_a_round_number_and_labels_stay_short():
    assert [nice_ceiling(Decimal(v)) for v in ("0", "7", "13", "2400", "4999", "61000")] == [
        1, 10, 20, 2500, 5000, 100000,
    ]  # fmt: skip
    assert money_label(Decimal("12500")) == "12,500"
    assert money_label(Decimal("2500000")) == "2.5M"
