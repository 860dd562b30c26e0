"""Bulk actions on the office list: start one (a job for the workers) and follow its progress.

The job's page polls its progress partial while it runs and gets 286 (stop polling) once it
has finished; an export job's CSV is downloaded from it.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from integrations.accounts import access
from integrations.accounts import selectors as account_selectors
from integrations.offices import exports, forms
from integrations.offices.models import BulkAction
from integrations.offices.selectors import offices as selectors
from integrations.offices.services import bulk as bulk_services
from odportal.lib.csv import csv_download, download_name
from odportal.lib.htmx import redirect_page, render_page, wants_partial

HTMX_STOP_POLLING = 286
FILTER_INVALID = "The list's filter is not valid, so “All matching” was not applied: fix it."
FILTER_PARAMS = ("q", "status", "account", "mode", "sort", "dir", "per_page")


@require_POST
def office_bulk(request: HttpRequest) -> HttpResponse:
    """Start a bulk action on the ticked offices, or on all the list's filter matches."""
    accounts = list(account_selectors.accounts_for_user(request.user))
    if not account_selectors.accounts_user_can_act(request.user).exists():
        raise PermissionDenied("You cannot act on any account's offices.")
    form = forms.BulkForm(request.POST)
    back = _list_url(request)
    if not form.is_valid():
        messages.error(request, " ".join(m for ms in form.errors.values() for m in ms))
        return redirect_page(request, back)
    filter_form = forms.OfficeFilterForm(request.POST, accounts=accounts)
    everything = form.cleaned_data["scope"] == "all"
    if everything and not filter_form.is_valid():
        # An invalid filter reads as "no filter": "all matching" would mean every office.
        messages.error(request, FILTER_INVALID)
        return redirect_page(request, back)
    filters = filter_form.filters()
    offices = selectors.bulk_offices(
        request.user, filters, form.cleaned_data["office"], everything=everything
    )
    action = form.cleaned_data["action"]
    try:
        job = bulk_services.bulk_job_create(
            actor=request.user, action=action, offices=offices,
            selection=_selection(filters, everything, len(form.cleaned_data["office"])),
        )  # fmt: skip
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect_page(request, back)
    messages.success(request, f"{BulkAction(action).label}: {job.total} offices queued.")
    return redirect_page(request, reverse("bulk_job", args=[job.public_id]))


def _list_url(request: HttpRequest) -> str:
    """The office list as it was (its filter, sort and page size)."""
    params = [(k, request.POST[k]) for k in FILTER_PARAMS if request.POST.get(k)]
    return reverse("office_list") + (f"?{urlencode(params)}" if params else "")


def _selection(filters, everything: bool, ticked: int) -> str:
    """The job's selection in words, as its page and the audit log show it."""
    if not everything:
        return f"{ticked} ticked office{'' if ticked == 1 else 's'}"
    said = [f"{name} “{value}”" for name, value in (
        ("search", filters.q), ("status", filters.status), ("mode", filters.mode),
    ) if value]  # fmt: skip
    if filters.account:
        said.append("one account")
    return "all offices matching " + (", ".join(said) if said else "no filter")


@require_GET
def bulk_job(request: HttpRequest, public_id) -> HttpResponse:
    """A bulk job's progress and, once finished, the offices skipped or failed, with why."""
    job = selectors.get_bulk_job_for_user(request.user, public_id)
    access.require_actor(request, job.account)
    problems = [] if job.is_active else selectors.bulk_job_problems(job)
    context = {"job": job, "problems": problems, "problems_cap": selectors.BULK_ITEMS_SHOWN}
    status = HTMX_STOP_POLLING if wants_partial(request) and not job.is_active else 200
    return render_page(request, "offices/bulk_job.html", context, "job", status=status)


@require_GET
def bulk_job_csv(request: HttpRequest, public_id) -> StreamingHttpResponse:
    """An export job's offices as CSV: the office list's columns, in its order."""
    job = selectors.get_bulk_job_for_user(request.user, public_id)
    access.require_actor(request, job.account)
    if job.action != BulkAction.EXPORT:
        raise Http404("This job exported nothing.")
    return csv_download(
        download_name("offices", day=timezone.localdate(job.queued_at)),
        exports.OFFICE_CSV_HEADER,
        selectors.bulk_job_csv_rows(job),
        text_columns=exports.OFFICE_CSV_TEXT,
    )
