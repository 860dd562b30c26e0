"""Office pages: list, add, detail and edit. Thin: selectors read, services write."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from integrations.accounts import access
from integrations.accounts import selectors as account_selectors
from integrations.accounts.models import Role
from integrations.offices import exports, forms
from integrations.offices.models import BulkAction
from integrations.offices.selectors import offices as selectors
from integrations.offices.services import offices as office_services
from integrations.offices.services import portal as portal_services
from integrations.offices.services.polling import sweep
from integrations.offices.views._access import office_for_user
from integrations.offices.views._rows import office_rows_prepare
from integrations.offices.views.keys import portal_context
from integrations.offices.views.polls import poll_context
from odportal.lib.csv import csv_download, download_name
from odportal.lib.forms import posted, service_errors_to_form
from odportal.lib.htmx import redirect_page, render_page, wants_partial
from odportal.lib.tables import DeferredJoinPaginator, sort_headers

LIST_COLUMNS = [
    ("name", "Office", ""),
    ("account", "Account", ""),
    ("status", "Status", ""),
    ("last_success", "Last success", ""),
    ("key", "Key", "nosort"),
    ("mode", "Mode", ""),
    ("version", "Version", ""),
    ("gap", "Missing perms", "num"),
    ("aging", "A/R total", "num"),
    ("over90", "90+ share", "num"),
]


@require_GET
def office_list(request: HttpRequest) -> HttpResponse:
    """Every office of the user's accounts: search, filter, sort, 25 to 200 per page, and
    tick boxes for bulk actions where the user is an owner or operator."""
    accounts = list(account_selectors.accounts_for_user(request.user).order_by("company_name"))
    form = forms.OfficeFilterForm(request.GET or None, accounts=accounts)
    filters = form.filters()
    offices = selectors.office_list(request.user, filters)
    page = DeferredJoinPaginator(offices, form.page_size()).get_page(request.GET.get("page"))
    runs = selectors.active_runs_by_office([o.pk for o in page.object_list])
    actable = {a.pk for a in account_selectors.accounts_user_can_act(request.user)}
    for office in page.object_list:
        office.active_run = runs.get(office.pk)
        office.can_bulk = office.account_id in actable
    office_rows_prepare(page.object_list)
    columns = [c for c in LIST_COLUMNS if c[2] != "nosort"]
    context = {
        "form": form,
        "page": page,
        "filters": filters,
        "headers": sort_headers(request, columns, filters.sort, filters.desc),
        "can_add": bool(actable),
        "can_bulk": bool(actable),
        "bulk_total": _bulk_total(request, filters, page, actable, accounts),
        "bulk_actions": BulkAction.choices,
        # The query but its page: the jump-to-page and bulk forms carry it along.
        "kept_params": [(k, v) for k, vs in request.GET.lists() if k != "page" for v in vs],
        "oob": wants_partial(request),  # the search's error travels with the table
    }
    return render_page(request, "offices/list.html", context, "results")


def _bulk_total(request: HttpRequest, filters, page, actable: set, accounts: list) -> int:
    """How many offices "All matching" would act on: those of the accounts the user may act
    on (counted apart only when the user also views other accounts' offices)."""
    if not actable or len(actable) == len(accounts):
        return page.paginator.count
    return selectors.bulk_offices(request.user, filters, [], everything=True).count()


@require_GET
def office_list_csv(request: HttpRequest) -> StreamingHttpResponse:
    """The office list as CSV: every office its filter matches, in its sort order."""
    accounts = list(account_selectors.accounts_for_user(request.user))
    filters = forms.OfficeFilterForm(request.GET or None, accounts=accounts).filters()
    offices = selectors.office_list(request.user, filters)
    return csv_download(
        download_name("offices", day=timezone.localdate()),
        exports.OFFICE_CSV_HEADER,
        selectors.office_csv_rows(offices),
        text_columns=exports.OFFICE_CSV_TEXT,
    )


@require_http_methods(["GET", "POST"])
def office_new(request: HttpRequest) -> HttpResponse:
    """Add an office to one of the accounts the user can act on."""
    accounts = account_selectors.accounts_user_can_act(request.user)
    if not accounts.exists():
        raise PermissionDenied("You cannot add offices to any account.")
    form = forms.OfficeCreateForm(posted(request), accounts=accounts, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.office_fields()
        account = data.pop("account")
        access.require_actor(request, account)
        try:
            office = office_services.office_create(
                account=account, actor=request.user, confirmed_host=form.confirmed_host,
                creation_token=form.creation_token,
                allow_same_name=form.cleaned_data["same_name_ok"], **data,
            )  # fmt: skip
        except office_services.OfficeAlreadyCreated as done:
            url = reverse("office_detail", args=[done.office.public_id])
            messages.info(request, f"Office “{done.office.name}” was already added by this form.")
            return redirect_page(request, url)
        except ValidationError as exc:
            service_errors_to_form(form, exc)
        else:
            if form.cleaned_data.get("generate_key"):
                return _generate_first_key(request, office)
            messages.success(request, f"Office “{office.name}” added. Now add its customer key.")
            return redirect_page(request, reverse("office_detail", args=[office.public_id]))
    context = {"form": form, "title": "Add office", "action": reverse("office_new")}
    return render_page(request, "offices/form.html", context, "form")


def _generate_first_key(request: HttpRequest, office) -> HttpResponse:
    """After adding an office: its key from Open Dental, then its onboarding page."""
    try:
        key = portal_services.customer_key_generate(office=office, actor=request.user)
    except ValidationError as exc:
        messages.error(request, f"Office “{office.name}” added, but {' '.join(exc.messages)}")
        return redirect_page(request, reverse("office_detail", args=[office.public_id]))
    messages.success(request, f"Office “{office.name}” added with key …{key.last4}.")
    return redirect_page(request, reverse("office_onboarding", args=[office.public_id]))


@require_GET
def office_detail(request: HttpRequest, public_id) -> HttpResponse:
    """One office: health and its cause, runs, keys (last-4), permissions, clinics, actions."""
    office, can_act = office_for_user(request, public_id)
    runs = selectors.office_recent_runs(office)
    keys = selectors.office_keys(office)
    current = next((k for k in keys if k.is_current), None)
    next_check_at, next_check_note = sweep.next_health_check(office, keys)
    context = {
        "office": office,
        "can_act": can_act,
        "keys": keys,
        "next_check_at": next_check_at,
        "next_check_note": next_check_note,
        "runs": runs,
        "history": selectors.office_status_changes(office),
        "clinics": selectors.office_clinics(office),
        "requested": list(office.account.requested_permissions.all()),
        "who_acts": selectors.who_acts(office.status, current.status if current else None),
        "current_key": current,
        "key_form": forms.CustomerKeyForm(),
        "keys_pending": any(k.portal_action for k in keys),
        **portal_context(office),
        **poll_context(office),
    }
    return render_page(request, "offices/detail.html", context, _detail_partial(request))


# The office page's sections an htmx request may reload, by the id of the element it targets:
# the keys card while a key action is pending, health and runs when a run finishes.
DETAIL_PARTIALS = {"keys-card": "keys", "health-card": "health", "runs-card": "runs"}


def _detail_partial(request: HttpRequest) -> str:
    target = getattr(getattr(request, "htmx", None), "target", None)
    return DETAIL_PARTIALS.get(target or "", "keys")


@require_http_methods(["GET", "POST"])
def office_edit(request: HttpRequest, public_id) -> HttpResponse:
    """Edit an office's settings through the office_update service."""
    office, _ = office_for_user(request, public_id, write=True)
    can_direct = access.role_in(request, office.account) == Role.OWNER
    form = forms.OfficeForm(posted(request), instance=office, can_direct=can_direct)
    if request.method == "POST" and form.is_valid():
        try:
            office_services.office_update(
                office=office, actor=request.user, confirmed_host=form.confirmed_host,
                **form.office_fields(),
            )  # fmt: skip
        except ValidationError as exc:
            service_errors_to_form(form, exc)
        else:
            messages.success(request, "Office settings saved.")
            return redirect_page(request, reverse("office_detail", args=[office.public_id]))
    context = {
        "form": form,
        "office": office,
        "title": f"Edit {office.name}",
        "action": reverse("office_edit", args=[office.public_id]),
    }
    return render_page(request, "offices/form.html", context, "form")
