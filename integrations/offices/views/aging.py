"""Aging report of one office: totals, chart, guarantors, trend, CSV and as-of requests."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.contrib import messages
from django.core.paginator import Page, Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html_join
from django.views.decorators.http import require_GET, require_POST

from integrations.offices.forms import AgingAsOfForm
from integrations.offices.models import PollKind, SnapshotSource
from integrations.offices.selectors import aging as aging_selectors
from integrations.offices.selectors import offices as selectors
from integrations.offices.services.polling import dispatch
from integrations.offices.views._access import office_for_user
from odportal.lib.charts import line_chart
from odportal.lib.csv import csv_download, download_name
from odportal.lib.htmx import redirect_page, render_page
from odportal.lib.tables import sort_headers

PAGE_SIZE = 100
ROW_COLUMNS = [
    ("name", "Guarantor", ""),
    ("pat_num", "PatNum", "num"),
    ("clinic", "Clinic", ""),
    ("bal_0_30", "0–30", "num"),
    ("bal_31_60", "31–60", "num"),
    ("bal_61_90", "61–90", "num"),
    ("bal_over_90", "90+", "num"),
    ("ins_est", "Ins. estimate", "num"),
    ("bal_total", "Total", "num"),
]
BUCKET_LABELS = [
    ("bal_0_30", "0–30 days"),
    ("bal_31_60", "31–60 days"),
    ("bal_61_90", "61–90 days"),
    ("bal_over_90", "Over 90 days"),
    ("ins_est", "Insurance estimate"),
]


def _clinic_param(request: HttpRequest) -> int | None:
    return aging_selectors.key_param(request.GET.get("clinic", ""))


@require_GET
def aging_report(request: HttpRequest, public_id) -> HttpResponse:
    """The office's aging (current or a chosen snapshot), filtered by clinic, sortable, paged."""
    office, can_act = office_for_user(request, public_id)
    return render_page(
        request, "offices/aging.html", _report_context(request, office, can_act), "rows"
    )


def _report_context(request: HttpRequest, office, can_act: bool, as_of_form=None) -> dict:
    """What the aging page shows; ``as_of_form`` is a refused as-of request to show again."""
    snapshot = aging_selectors.aging_snapshot_for(office, request.GET.get("snapshot") or None)
    clinic = _clinic_param(request)
    sort = request.GET.get("sort", "bal_total")
    sort = sort if sort in aging_selectors.AGING_SORTS else "bal_total"
    desc = request.GET.get("dir", "desc") != "asc"
    clinics = selectors.office_clinics(office)
    names = {c.clinic_num: str(c) for c in clinics}
    as_of_snapshots = aging_selectors.aging_as_of_snapshots(office)
    for s in as_of_snapshots:
        s.clinic_label = clinic_label(s.clinic_num, names)
    context = {
        "office": office,
        "snapshot": snapshot,
        "clinic": clinic,
        "clinic_name": clinic_label(clinic, names),
        "clinics": clinics,
        "can_act": can_act,
        "as_of_form": as_of_form or AgingAsOfForm(clinics=clinics),
        "as_of_snapshots": as_of_snapshots,
        "headers": sort_headers(request, ROW_COLUMNS, sort, desc),
        "sort": sort,
        "desc": desc,
    }
    if snapshot is not None:
        totals = aging_selectors.aging_totals(snapshot, clinic=clinic)
        context.update(
            page=rows_page(
                request, snapshot, clinic=clinic, sort=sort, desc=desc, clinic_names=names
            ),
            totals=totals,
            bars=bar_chart(totals),
            trend=trend_chart(aging_selectors.aging_trend(office)),
            stale=snapshot.fetched_at < timezone.now() - timedelta(days=1),
            is_fallback=snapshot.source == SnapshotSource.REPORTS_AGING,
        )
    return context


_ROW = (
    '<tr><td>{}</td><td class="num">{}</td><td>{}</td><td class="num">{}</td>'
    '<td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td>'
    '<td class="num"><strong>{}</strong></td></tr>\n'
)


def clinic_label(clinic_num: int | None, names: dict[int, str]) -> str:
    """A clinic as people know it: its abbreviation (or description), not its number; 0 is
    Open Dental's "no clinic"."""
    if clinic_num is None:
        return "All clinics"
    return names.get(clinic_num) or ("No clinic" if clinic_num == 0 else f"Clinic {clinic_num}")


def rows_html(rows, clinic_names: dict[int, str]) -> str:
    """The guarantor rows as escaped HTML: a template variable per cell (about 900 a page,
    each localized and escaped) was most of this page's time. Amounts print as stored."""
    return format_html_join(
        "",
        _ROW,
        (
            (
                r.name or "—",
                r.pat_num,
                clinic_label(r.clinic_num, clinic_names),
                r.bal_0_30,
                r.bal_31_60,
                r.bal_61_90,
                r.bal_over_90,
                r.ins_est,
                r.bal_total,
            )
            for r in rows
        ),
    )


def rows_page(
    request: HttpRequest,
    snapshot,
    *,
    clinic: int | None,
    sort: str,
    desc: bool,
    clinic_names: dict[int, str],
) -> Page:
    """One page of guarantors. Next/Previous links carry a keyset cursor, so a deep page costs
    what the first one does; ``?page=N`` alone (a bookmark) first finds where its page starts
    along the index (``aging_cursor_at``). The count comes from the snapshot when it recorded
    one."""
    rows = aging_selectors.aging_rows(snapshot, clinic=clinic, sort=sort, desc=desc)
    paginator = Paginator(rows, PAGE_SIZE)
    count = aging_selectors.aging_rows_count(snapshot, clinic=clinic)
    if count is not None:
        paginator.count = count  # overrides the cached COUNT(*) property
    number = paginator.get_page(request.GET.get("page")).number  # validated, no query
    cursor = aging_selectors.aging_cursor_parse(request.GET.get("after", ""), sort) or (
        aging_selectors.aging_cursor_parse(request.GET.get("before", ""), sort, before=True)
    )
    if cursor is None and number > 1:  # a bookmark: find where the page starts, then keyset
        position = (number - 1) * PAGE_SIZE - 1
        cursor = aging_selectors.aging_cursor_at(rows, position, sort, clinic=clinic)
    if cursor is None:
        objects = list(rows[(number - 1) * PAGE_SIZE : number * PAGE_SIZE])
    else:
        keyset = aging_selectors.aging_rows_keyset(rows, cursor, sort=sort, desc=desc)
        objects = list(keyset[:PAGE_SIZE])
        if cursor.before:
            objects.reverse()
    page = Page(objects, number, paginator)
    page.rows_html = rows_html(objects, clinic_names)
    page.next_params = page.previous_params = None
    if objects and page.has_next():
        after = aging_selectors.aging_cursor_of(objects[-1], sort).encode()
        page.next_params = {"page": number + 1, "after": after, "before": None}
    if objects and page.has_previous():
        before = aging_selectors.aging_cursor_of(objects[0], sort).encode()
        page.previous_params = {"page": number - 1, "before": before, "after": None}
        if number == 2:  # the first page has a plain URL
            page.previous_params = {"page": None, "before": None, "after": None}
    return page


def bar_chart(totals: dict[str, Decimal], width: int = 560) -> list[dict]:
    """Bars for the SVG chart: label, value and pixel geometry (no inline styles)."""
    peak = max([totals[k] for k, _ in BUCKET_LABELS] + [Decimal("0.01")])
    bars = []
    for i, (key, label) in enumerate(BUCKET_LABELS):
        value = totals[key]
        bars.append(
            {
                "key": key,
                "label": label,
                "value": value,
                "y": i * 34,
                "text_y": i * 34 + 17,
                "width": max(int(max(value, 0) / peak * (width - 260)), 1),
            }
        )
    return bars


def trend_chart(snapshots: list) -> dict:
    """The trend's snapshots and their A/R totals as a line chart (odportal.lib.charts)."""
    chart = line_chart([(s.fetched_at, s.bal_total) for s in snapshots])
    return {"snapshots": snapshots, "chart": chart}


@require_GET
def aging_csv(request: HttpRequest, public_id) -> StreamingHttpResponse:
    """The whole report (every guarantor row) as a streamed CSV."""
    office = selectors.get_office_for_user(request.user, public_id)
    snapshot = aging_selectors.aging_snapshot_for(office, request.GET.get("snapshot") or None)
    clinic = _clinic_param(request)
    rows = aging_selectors.aging_csv_rows(snapshot, clinic=clinic) if snapshot else iter(())
    clinic_part = f"clinic {clinic}" if clinic is not None else ""
    return csv_download(
        download_name("aging", office.name, clinic_part, day=snapshot.as_of if snapshot else None),
        aging_selectors.AGING_CSV_COLUMNS,
        rows,
        text_columns=("name",),  # the guarantor's name is the one free-text cell
    )


@require_POST
def aging_as_of(request: HttpRequest, public_id) -> HttpResponse:
    """Request the aging as of another date (optionally one clinic); a refused date comes
    back on its field, as typed."""
    office, _ = office_for_user(request, public_id, write=True)
    form = AgingAsOfForm(request.POST, clinics=selectors.office_clinics(office))
    if not form.is_valid():
        context = _report_context(request, office, True, as_of_form=form)
        return render_page(request, "offices/aging.html", context, "as_of_form")
    try:
        dispatch.poll_enqueue(
            office=office,
            kind=PollKind.AGING_AS_OF,
            as_of=form.cleaned_data["as_of"],
            clinic_num=form.cleaned_data["clinic"],
            actor=request.user,
        )
    except dispatch.WorkersUnavailable:
        messages.error(request, "Workers unavailable: the request could not be queued.")
    else:
        messages.success(request, f"Aging as of {form.cleaned_data['as_of']:%Y-%m-%d} requested.")
    return redirect_page(request, reverse("office_aging", args=[office.public_id]))


@require_GET
def fleet_aging(request: HttpRequest) -> HttpResponse:
    """The fleet's A/R total per day (chart and table) and every office's current totals as
    CSV; the overview loads the chart (the ``trend`` partial) into its receivables card."""
    days = aging_selectors.fleet_aging_trend(request.user)
    chart = line_chart([(d.as_of, d.bal_total) for d in days])
    context = {"days": days, "chart": chart, "trend_days": aging_selectors.FLEET_TREND_DAYS}
    return render_page(request, "offices/fleet_aging.html", context, "trend")


@require_GET
def fleet_aging_csv(request: HttpRequest) -> StreamingHttpResponse:
    """Every office's current aging totals, one CSV."""
    return csv_download(
        download_name("aging", "all offices", day=timezone.localdate()),
        aging_selectors.FLEET_CSV_COLUMNS,
        aging_selectors.fleet_aging_csv_rows(request.user),
        text_columns=aging_selectors.FLEET_CSV_TEXT,
    )
