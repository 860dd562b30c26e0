"""The aging report: totals, chart, sorted/paged guarantors, trend, CSV, as-of requests."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from integrations.offices.models import AgingRow, PollKind, PollRun, SnapshotSource
from tests.factories import AgingSnapshotFactory, ClinicFactory, make_current, make_rows


def _url(office, name="office_aging"):
    return reverse(name, args=[office.public_id])


def test_report_shows_totals_chart_and_sorted_rows(owner_client, office, snapshot):
    response = owner_client.get(_url(office))
    body = response.content.decode()
    assert response.status_code == 200
    assert "<svg" in body and 'class="bar bar-bal_over_90"' in body and "style=" not in body
    rows = list(response.context["page"].object_list)
    assert rows[0].bal_total >= rows[-1].bal_total  # biggest balance first by default
    asc = owner_client.get(_url(office), {"sort": "name", "dir": "asc"}).context["page"]
    assert asc.object_list[0].name == "Guarantor 00001"


def test_rows_print_amounts_as_stored_and_escape_names(owner_client, office, snapshot):
    row = AgingRow.objects.filter(snapshot=snapshot).order_by("-bal_total").first()
    AgingRow.objects.filter(pk=row.pk).update(name="<b>O'Neil</b> & Co", bal_over_90=-1234.5)
    body = owner_client.get(_url(office)).content.decode()
    assert "&lt;b&gt;O&#x27;Neil&lt;/b&gt; &amp; Co" in body and "<b>O'Neil" not in body
    assert f'<td class="num">{row.pat_num}</td>' in body
    assert '<td class="num">-1234.50</td>' in body
    assert f'<td class="num"><strong>{row.bal_total}</strong></td>' in body


def test_clinic_filter_limits_rows_and_totals(owner_client, office, snapshot):
    ClinicFactory(office=office, clinic_num=1)
    response = owner_client.get(_url(office), {"clinic": 1})
    rows = list(response.context["page"].object_list)
    assert rows and all(r.clinic_num == 1 for r in rows)
    assert response.context["totals"]["bal_total"] == sum(r.bal_total for r in rows)


def test_rows_paginate_with_a_constant_query_count(owner_client, office, django_assert_num_queries):
    snap = AgingSnapshotFactory(office=office)
    make_rows(snap, 250)
    make_current(office, snap)
    for _ in range(3):
        AgingSnapshotFactory(office=office, is_as_of_request=True)
    with django_assert_num_queries(11):
        first = owner_client.get(_url(office), {"sort": "bal_over_90"})
    # A bookmark first looks up where its page starts (in a savepoint, with a planner hint on
    # Postgres).
    with django_assert_num_queries(15 if connection.vendor == "postgresql" else 14):
        last = owner_client.get(_url(office), {"sort": "bal_over_90", "page": 3})
    assert len(first.context["page"].object_list) == 100
    assert len(last.context["page"].object_list) == 50


def test_next_and_previous_links_page_by_cursor_like_offsets(owner_client, office):
    snap = AgingSnapshotFactory(office=office)
    make_rows(snap, 250)
    make_current(office, snap)
    params = {"sort": "bal_over_90", "dir": "desc"}

    def follow(link: dict):
        query = {**params, **{k: v for k, v in link.items() if v is not None}}
        return owner_client.get(_url(office), query).context["page"]

    first = follow({})
    assert first.next_params["after"] and first.next_params["page"] == 2
    second = follow(first.next_params)
    by_offset = follow({"page": 2})
    expected = list(
        AgingRow.objects.filter(snapshot=snap)
        .order_by("-bal_over_90", "-pat_num")
        .values_list("pat_num", flat=True)[100:200]
    )
    assert [r.pat_num for r in second.object_list] == expected
    assert [r.pat_num for r in by_offset.object_list] == expected
    third = follow(second.next_params)
    again = follow(third.previous_params)
    assert [r.pat_num for r in again.object_list] == [r.pat_num for r in second.object_list]


def test_htmx_sort_returns_only_the_rows_partial(owner_client, office, snapshot):
    response = owner_client.get(_url(office), {"sort": "pat_num"}, headers={"HX-Request": "true"})
    body = response.content.decode()
    assert 'id="aging-rows"' in body and "<html" not in body
    assert "HX-Request" in response["Vary"]


def test_freshness_badge_and_fallback_note(owner_client, office, snapshot):
    snapshot.fetched_at = timezone.now() - timedelta(days=2)
    snapshot.source = SnapshotSource.REPORTS_AGING
    snapshot.save()
    body = owner_client.get(_url(office)).content.decode()
    assert "Older than a day" in body and "lacks the <strong>Queries</strong>" in body


def test_trend_draws_earlier_complete_snapshots(owner_client, office, snapshot):
    AgingSnapshotFactory(office=office, fetched_at=timezone.now() - timedelta(days=1))
    AgingSnapshotFactory(office=office, state="failed")
    response = owner_client.get(_url(office))
    assert len(response.context["trend"]["snapshots"]) == 2
    assert "<polyline" in response.content.decode()


def test_csv_streams_header_and_every_row(owner_client, office, snapshot):
    response = owner_client.get(_url(office, "office_aging_csv"))
    assert response.streaming and response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:3] == ["pat_num", "name", "clinic_num"]
    assert len(rows) == 1 + 30 and rows[1][0] == "1001"
    clinic = b"".join(owner_client.get(_url(office, "office_aging_csv"), {"clinic": 1})).decode()
    assert len(clinic.strip().splitlines()) == 1 + 15


def test_csv_neutralises_formulas_in_names(owner_client, office, snapshot):
    snapshot.rows.filter(pat_num=1001).update(name="=HYPERLINK(1)")
    text = b"".join(owner_client.get(_url(office, "office_aging_csv")).streaming_content).decode(
        "utf-8-sig"
    )
    assert "'=HYPERLINK(1)" in text


def test_as_of_request_queues_a_run_and_as_of_snapshots_are_viewable(owner_client, office):
    ClinicFactory(office=office, clinic_num=3)
    response = owner_client.post(
        _url(office, "office_aging_as_of"), {"as_of": "2024-12-31", "clinic": "3"}
    )
    run = PollRun.objects.get(office=office)
    assert response.status_code == 302
    assert run.kind == PollKind.AGING_AS_OF and run.as_of == date(2024, 12, 31)
    assert run.clinic_num == 3
    snap = AgingSnapshotFactory(office=office, is_as_of_request=True, as_of=date(2024, 12, 31))
    make_rows(snap, 5)
    page = owner_client.get(_url(office))
    assert f"?snapshot={snap.public_id}" in page.content.decode()
    viewed = owner_client.get(_url(office), {"snapshot": str(snap.public_id)})
    assert viewed.context["snapshot"] == snap and "as of 2024-12-31" in viewed.content.decode()


def test_as_of_in_the_future_is_refused(owner_client, office):
    tomorrow = timezone.localdate() + timedelta(days=1)
    owner_client.post(_url(office, "office_aging_as_of"), {"as_of": tomorrow.isoformat()})
    assert not PollRun.objects.exists()


def test_snapshot_of_another_office_is_404(owner_client, office, account):
    foreign = AgingSnapshotFactory()
    assert owner_client.get(_url(office), {"snapshot": str(foreign.public_id)}).status_code == 404


def test_office_without_aging_says_so(owner_client, office):
    assert "No aging has been fetched" in owner_client.get(_url(office)).content.decode()


@pytest.mark.parametrize(
    "query",
    [
        "?snapshot=garbage", "?snapshot=%00", "?clinic=%C2%B2", "?clinic=99999999999999999999999",
        "?after=1:1e999999", "?before=1:-1e999999", "?after=1:NaN", "?after=%C2%B2:1",
        "?after=99999999999999999999999:1", "?sort=name&after=1:a%00b", "?sort=pat_num&after=1:1e5",
        "?page=99999999999999999999", "?sort=%00&dir=%00",
    ],
)  # fmt: skip
def test_malformed_query_values_are_not_found_or_ignored_never_a_500(
    owner_client, office, snapshot, query
):
    owner_client.raise_request_exception = False
    for name in ("office_aging", "office_aging_csv"):
        response = owner_client.get(reverse(name, args=[office.public_id]) + query)
        assert response.status_code in (200, 400, 404), (name, query, response.status_code)


def test_clinics_show_by_name_in_the_table_totals_and_title(owner_client, office, snapshot):
    ClinicFactory(office=office, clinic_num=1, abbr="NORTH", description="North Side")
    body = owner_client.get(_url(office)).content.decode()
    assert f"<h1>A/R aging · {office.name}" in body
    assert "<td>NORTH</td>" in body and "<td>No clinic</td>" in body  # ClinicNum 0
    filtered = owner_client.get(_url(office), {"clinic": 1}).content.decode()
    assert '<span class="muted">(NORTH)</span>' in filtered
    assert "(clinic 1)" not in filtered
