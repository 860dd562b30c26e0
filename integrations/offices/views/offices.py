"""Office pages: list, detail, add/edit, keys and polls. Thin: selectors read, services write."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from integrations.accounts import access
from integrations.accounts import selectors as account_selectors
from integrations.offices import forms
from integrations.offices.models import PollKind
from integrations.offices.selectors import offices as selectors
from integrations.offices.services import keys as key_services
from integrations.offices.services import offices as office_services
from integrations.offices.services.polling import execute as polling
from integrations.offices.services.polling import runs as run_services
from integrations.offices.views._rows import office_rows_prepare
from odportal.lib.forms import posted, service_errors_to_form
from odportal.lib.htmx import render_page, wants_partial
from odportal.lib.tables import DeferredJoinPaginator, sort_headers

PAGE_SIZE = 50
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
    """Every office of the user's accounts: search, filter, sort, 50 per page."""
    accounts = list(account_selectors.accounts_for_user(request.user).order_by("company_name"))
    form = forms.OfficeFilterForm(request.GET or None, accounts=accounts)
    filters = form.filters()
    offices = selectors.office_list(request.user, filters)
    page = DeferredJoinPaginator(offices, PAGE_SIZE).get_page(request.GET.get("page"))
    runs = selectors.active_runs_by_office([o.pk for o in page.object_list])
    for office in page.object_list:
        office.active_run = runs.get(office.pk)
    office_rows_prepare(page.object_list)
    columns = [c for c in LIST_COLUMNS if c[2] != "nosort"]
    context = {
        "form": form,
        "page": page,
        "filters": filters,
        "headers": sort_headers(request, columns, filters.sort, filters.desc),
        "can_add": account_selectors.accounts_user_can_act(request.user).exists(),
    }
    return render_page(request, "offices/list.html", context, "results")


@require_http_methods(["GET", "POST"])
def office_new(request: HttpRequest) -> HttpResponse:
    """Add an office to one of the accounts the user can act on."""
    accounts = account_selectors.accounts_user_can_act(request.user)
    if not accounts.exists():
        raise PermissionDenied("You cannot add offices to any account.")
    form = forms.OfficeCreateForm(posted(request), accounts=accounts)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        account = data.pop("account")
        access.require_actor(request, account)
        try:
            office = office_services.office_create(account=account, actor=request.user, **data)
        except ValidationError as exc:
            service_errors_to_form(form, exc)
        else:
            messages.success(request, f"Office “{office.name}” added. Now add its customer key.")
            return _redirect(request, reverse("office_detail", args=[office.public_id]))
    context = {"form": form, "title": "Add office", "action": reverse("office_new")}
    return render_page(request, "offices/form.html", context, "form")


@require_GET
def office_detail(request: HttpRequest, public_id) -> HttpResponse:
    """One office: health and its cause, runs, keys (last-4), permissions, clinics, actions."""
    office = selectors.get_office_for_user(request.user, public_id)
    runs = selectors.office_recent_runs(office)
    keys = selectors.office_keys(office)
    next_check_at, next_check_note = polling.next_health_check(office, keys)
    context = {
        "office": office,
        "can_act": access.can_act(request, office.account),
        "keys": keys,
        "next_check_at": next_check_at,
        "next_check_note": next_check_note,
        "runs": runs,
        "history": selectors.office_status_changes(office),
        "clinics": selectors.office_clinics(office),
        "requested": list(office.account.requested_permissions.all()),
        "who_acts": selectors.WHO_ACTS.get(office.status, ""),
        "key_form": forms.CustomerKeyForm(),
        **_poll_context(office),
    }
    return render(request, "offices/detail.html", context)


@require_http_methods(["GET", "POST"])
def office_edit(request: HttpRequest, public_id) -> HttpResponse:
    """Edit an office's settings through the office_update service."""
    office = selectors.get_office_for_user(request.user, public_id)
    access.require_actor(request, office.account)
    form = forms.OfficeForm(posted(request), instance=office)
    if request.method == "POST" and form.is_valid():
        try:
            office_services.office_update(office=office, actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            service_errors_to_form(form, exc)
        else:
            messages.success(request, "Office settings saved.")
            return _redirect(request, reverse("office_detail", args=[office.public_id]))
    context = {
        "form": form,
        "office": office,
        "title": f"Edit {office.name}",
        "action": reverse("office_edit", args=[office.public_id]),
    }
    return render_page(request, "offices/form.html", context, "form")


@require_http_methods(["GET", "POST"])
def key_add(request: HttpRequest, public_id) -> HttpResponse:
    """Add a customer key; the page (or fragment) never shows the submitted key again."""
    office = selectors.get_office_for_user(request.user, public_id)
    access.require_actor(request, office.account)
    form = forms.CustomerKeyForm(posted(request))
    if request.method == "POST" and form.is_valid():
        try:
            key = key_services.customer_key_add(
                office=office, key=form.cleaned_data["customer_key"], actor=request.user
            )
        except ValidationError as exc:
            service_errors_to_form(form, exc)
        else:
            messages.success(request, f"Key …{key.last4} added and is now the current key.")
            return _redirect(request, reverse("office_detail", args=[office.public_id]))
    context = {"office": office, "key_form": form}
    return render_page(request, "offices/key_add.html", context, "key_form")


KEY_ACTIONS = {
    "disable": (forms.ReasonForm, "Disable key", True),
    "enable": (forms.KeyEnableForm, "Enable key", False),
    "rotate": (forms.KeyRotateForm, "Rotate key", True),
    "move": (forms.KeyMoveForm, "Move key", True),
}


@require_http_methods(["GET", "POST"])
def key_action(request: HttpRequest, public_id, key_id, action: str) -> HttpResponse:
    """Confirm (GET) and perform (POST) one key action; the reason goes to the audit log."""
    office = selectors.get_office_for_user(request.user, public_id)
    access.require_actor(request, office.account)
    key = selectors.get_key_for_office(office, key_id)
    form_class, title, destructive = KEY_ACTIONS[action]
    extra = {"offices": selectors.other_offices_of_account(office)} if action == "move" else {}
    form = form_class(posted(request), **extra)
    if request.method == "POST" and form.is_valid():
        try:
            done = _perform_key_action(action, key, form.cleaned_data, request.user)
        except ValidationError as exc:
            service_errors_to_form(form, exc)
        else:
            messages.success(request, done)
            return _redirect(request, reverse("office_detail", args=[office.public_id]))
    context = {
        "office": office,
        "key": key,
        "form": form,
        "action": action,
        "title": title,
        "destructive": destructive,
    }
    if action == "move":
        picked = form.cleaned_data.get("to_office") if form.is_bound else None
        context |= _move_choices_context(request, office, picked)
    return render_page(request, "offices/key_action.html", context, "form")


@require_GET
def key_move_choices(request: HttpRequest, public_id, key_id) -> HttpResponse:
    """The move form's office list for a search (htmx, as the user types)."""
    office = selectors.get_office_for_user(request.user, public_id)
    access.require_actor(request, office.account)
    selectors.get_key_for_office(office, key_id)
    context = _move_choices_context(request, office, None)
    return render(request, "offices/_move_choices.html", context)


def _move_choices_context(request: HttpRequest, office, picked) -> dict:
    q = request.GET.get("q", "").strip()[:100]
    choices, total = selectors.move_target_choices(office, q, picked)
    selected = str(picked.public_id) if picked is not None else ""
    return {"move_q": q, "move_choices": choices, "move_total": total, "move_selected": selected}


def _perform_key_action(action: str, key, data: dict, actor) -> str:
    reason = data.get("reason", "")
    if action == "disable":
        key_services.customer_key_disable(key=key, actor=actor, reason=reason)
        return f"Key …{key.last4} disabled."
    if action == "enable":
        key_services.customer_key_enable(key=key, actor=actor, reason=reason)
        return f"Key …{key.last4} enabled and is the current key again."
    if action == "rotate":
        new = key_services.customer_key_rotate(
            key=key, new_key=data["customer_key"], actor=actor, reason=reason
        )
        return f"Key …{key.last4} replaced by …{new.last4}."
    key_services.customer_key_move(key=key, to_office=data["to_office"], actor=actor, reason=reason)
    return f"Key …{key.last4} moved to {data['to_office'].name} (works within 15 minutes)."


@require_POST
def poll_now(request: HttpRequest, public_id) -> HttpResponse:
    """Queue a health poll or an aging refresh now; say so clearly when workers are down."""
    office = selectors.get_office_for_user(request.user, public_id)
    access.require_actor(request, office.account)
    form = forms.PollForm(request.POST)
    kind = form.cleaned_data["kind"] if form.is_valid() else PollKind.HEALTH
    error = ""
    try:
        _run, created = run_services.poll_enqueue(office=office, kind=kind, actor=request.user)
    except run_services.WorkersUnavailable:
        error = "Workers unavailable: the poll could not be queued. Start the workers and retry."
    if not wants_partial(request):
        if error:
            messages.error(request, error)
        else:
            label = PollKind(kind).label
            messages.success(request, f"{label} queued." if created else f"{label} already runs.")
        return redirect("office_detail", public_id=office.public_id)
    context = {"office": office, "can_act": True, "poll_error": error, **_poll_context(office)}
    return render(request, "offices/_poll_panel.html", context)


@require_GET
def run_badge(request: HttpRequest, public_id) -> HttpResponse:
    """A run's live badge; 286 (htmx: stop polling) once the run has finished."""
    run = selectors.get_run_for_user(request.user, public_id)
    status = 200 if run.is_active else 286
    return render(
        request,
        "offices/_run_badge.html",
        {"run": run, "office": run.office},
        status=status,
    )


def _poll_context(office) -> dict:
    return {
        "health_run": selectors.office_active_run(office, PollKind.HEALTH),
        "aging_run": selectors.office_active_run(office, PollKind.AGING),
    }


def _redirect(request: HttpRequest, url: str) -> HttpResponse:
    if wants_partial(request):
        return HttpResponseClientRedirect(url)
    return redirect(url)
