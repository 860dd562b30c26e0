"""The fleet's aging trend in headless Chromium: loaded into the overview's receivables card,
drawn with its axes, dates and values, and on its own page with the CSV link."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.factories import AgingSnapshotFactory, OfficeFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_overview_loads_the_fleet_trend_chart(page, live_server, login, screenshot, owner,
                                                  account):  # fmt: skip
    offices = [OfficeFactory(account=account) for _ in range(3)]
    today = timezone.localdate()
    for days_ago in range(10):
        for n, office in enumerate(offices):
            AgingSnapshotFactory(
                office=office, as_of=today - timedelta(days=days_ago),
                fetched_at=timezone.now() - timedelta(days=days_ago),
                bal_total=Decimal(12000 + 900 * n - 450 * days_ago),
            )  # fmt: skip
    login("owner")
    chart = page.locator("#fleet-trend svg.line-chart")
    expect(chart).to_be_visible()  # loaded in after the page
    expect(chart.locator(".tick-date").first).to_have_text((today - timedelta(days=9)).isoformat())
    expect(chart.locator(".tick-value").last).to_have_text("50,000")
    screenshot("overview-fleet-trend")
    page.get_by_role("link", name="Fleet aging trend").click()
    expect(page.get_by_role("heading", name="Fleet aging")).to_be_visible()
    expect(page.get_by_role("link", name="Every office's current totals (CSV)")).to_be_visible()
    screenshot("fleet-aging")
