"""The fleet's aging: every office's current totals as one CSV, and the A/R total per day as a
server-drawn chart (axes, dates, values) on its own page and loaded into the overview."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from integrations.offices.models import SnapshotState
from tests.factories import (
    AgingSnapshotFactory,
    DeveloperAccountFactory,
    OfficeFactory,
    make_current,
)

PAGE = "/aging/"
CSV_URL = "/aging.csv"


def _snap(office, days_ago: int, total: str, *, hours: int = 0, **fields):
    today = timezone.localdate()
    fetched = timezone.now() - timedelta(days=days_ago, hours=hours)
    return AgingSnapshotFactory(
        office=office, as_of=today - timedelta(days=days_ago), fetched_at=fetched,
        bal_total=Decimal(total), bal_over_90=Decimal(total) / 4, **fields,
    )  # fmt: skip


def test_trend_sums_each_offices_last_snapshot_of_each_day(owner_client, account):
    a, b = OfficeFactory(account=account), OfficeFactory(account=account)
    _snap(a, 2, "100")
    _snap(a, 1, "50", hours=3)  # refreshed twice that day: the later one counts
    _snap(a, 1, "120")
    _snap(b, 1, "30")
    _snap(b, 1, "999", state=SnapshotState.FAILED)
    _snap(b, 1, "999", is_as_of_request=True)
    _snap(OfficeFactory(account=DeveloperAccountFactory()), 1, "5000")  # another team's
    _snap(a, 40, "7")  # before the window
    days = owner_client.get(PAGE).context["days"]
    assert [(d.bal_total, d.offices) for d in days] == [(Decimal(100), 1), (Decimal(150), 2)]
    assert days[-1].as_of == timezone.localdate() - timedelta(days=1)


def test_the_chart_has_value_and_date_axes_and_each_point_says_its_value(owner_client, account):
    office = OfficeFactory(account=account)
    for days_ago, total in ((3, "1000"), (2, "1800"), (1, "2400")):
        _snap(office, days_ago, total)
    body = owner_client.get(PAGE).content.decode()
    svg = body[body.index("<svg") : body.index("</svg>")]
    assert svg.count('class="axis"') == 2 and "<polyline" in svg
    values = re.findall(r'class="tick tick-value">([^<]+)<', svg)
    assert values == ["0", "1,250", "2,500"]  # from zero to a rounded top
    first, last = (timezone.localdate() - timedelta(days=n) for n in (3, 1))
    dates = re.findall(r'class="tick tick-date[^"]*">([^<]+)<', svg)
    assert dates[0] == first.isoformat() and dates[-1] == last.isoformat()
    assert f"<title>{last.isoformat()}: 2,400.00</title>" in svg
    assert "style=" not in svg  # the CSP forbids inline styles


def test_the_overview_loads_the_trend_into_its_receivables_card(owner_client, account):
    office = OfficeFactory(account=account)
    _snap(office, 2, "10")
    _snap(office, 1, "20")
    overview = owner_client.get("/").content.decode()
    assert 'hx-get="/aging/" hx-trigger="load"' in overview and 'href="/aging.csv"' in overview
    partial = owner_client.get(PAGE, headers={"HX-Request": "true"})
    body = partial.content.decode()
    assert 'id="fleet-trend"' in body and "<svg" in body and "<html" not in body
    assert "HX-Request" in partial["Vary"]


def test_no_aging_yet_says_so_without_a_chart(owner_client, office):
    body = owner_client.get(PAGE).content.decode()
    assert "No complete aging in the last 30 days." in body and "<svg" not in body


def test_csv_has_every_offices_current_totals_with_a_bom_and_a_dated_name(owner_client, account):
    fetched = AgingSnapshotFactory(
        office=OfficeFactory(account=account, name="Zahnärzte Süd", reference="+ref"),
        bal_0_30=Decimal("10.50"), bal_total=Decimal("12.75"), guarantor_count=3,
    )  # fmt: skip
    make_current(fetched.office, fetched)
    OfficeFactory(account=account, name="Never fetched")
    OfficeFactory(account=DeveloperAccountFactory(), name="Other team")
    response = owner_client.get(CSV_URL)
    today = timezone.localdate().isoformat()
    assert response["Content-Disposition"] == (
        f'attachment; filename="aging-all-offices-{today}.csv"'
    )
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(body.removeprefix("\ufeff"))))
    assert rows[0] == ["office", "reference", "account", "as_of", "fetched_at", "guarantors",
                       "bal_0_30", "bal_31_60", "bal_61_90", "bal_over_90", "ins_est",
                       "bal_total"]  # fmt: skip
    assert [r[0] for r in rows[1:]] == ["Never fetched", "Zahnärzte Süd"]
    never, zahn = rows[1], rows[2]
    assert never[3:6] == ["", "", ""] and never[-1] == "0.00"
    assert zahn[1] == "'+ref" and zahn[3] == fetched.as_of.isoformat() and zahn[5] == "3"
    assert (zahn[6], zahn[-1]) == ("10.50", "12.75")


def test_the_fleet_pages_read_in_a_fixed_number_of_queries(
    owner_client, account, django_assert_num_queries
):
    for n in range(20):
        office = OfficeFactory(account=account)
        make_current(office, _snap(office, n % 5, "10"))
    with django_assert_num_queries(3):  # session, user, the grouped days
        owner_client.get(PAGE, headers={"HX-Request": "true"})
    with django_assert_num_queries(3):  # session, user, the offices
        b"".join(owner_client.get(CSV_URL).streaming_content)
