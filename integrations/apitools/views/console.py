"""The API console of one office (owners and operators): send, history, re-run, curl."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from integrations.accounts import access
from integrations.apitools import forms, selectors
from integrations.apitools.models import ConsoleCall
from integrations.apitools.services import console
from integrations.apitools.services.endpoints import SHORT_QUERY, endpoint
from integrations.offices.services.aging.recipe import AGING_SQL
from integrations.offices.views._access import office_for_user
from odportal.lib.forms import service_errors_to_form
from odportal.lib.htmx import render_page

DEFAULT_ENDPOINT = "appointments"


def _examples(office) -> dict[str, str]:
    """Ready-made ShortQuery examples: the aging query and the key lookup by DevName."""
    dev_name = office.account.dev_name.replace("'", "''")
    return {
        "aging": AGING_SQL,
        # An example for the user's editor (quotes doubled), never run by odportal itself.
        "apikey": f"SELECT CustApiKey FROM apikey WHERE DevName='{dev_name}'",  # noqa: S608
    }


@require_http_methods(["GET", "POST"])
def console_page(request: HttpRequest, public_id) -> HttpResponse:
    """Pick an endpoint, fill in its parameters, send it with the office's key."""
    office, _ = office_for_user(request, public_id, write=True)
    chosen = endpoint(request.POST.get("endpoint") or request.GET.get("endpoint", ""))
    chosen = chosen or endpoint(DEFAULT_ENDPOINT)
    initial = {}
    example = _examples(office).get(request.GET.get("example", ""))
    if example:
        chosen, initial = SHORT_QUERY, {"sql": example}
    form = forms.ConsoleForm(
        request.POST if request.method == "POST" else None, endpoint=chosen, initial=initial
    )
    result = None
    if request.method == "POST" and form.is_valid():
        result = _send(request, office, form, form.console_request())
    return _render(request, office, form, result)


@require_POST
def console_rerun(request: HttpRequest, public_id, call_id) -> HttpResponse:
    """Send a history row's request again (another page with ``offset``); a write is only put
    back in the form, to be confirmed again."""
    office, _ = office_for_user(request, public_id, write=True)
    call = get_object_or_404(ConsoleCall, office=office, public_id=call_id)
    offset = request.POST.get("offset")
    sent = console.console_request_of(call, offset=int(offset) if offset else None)
    chosen, initial = forms.console_initial(sent.method, sent.path, sent.params, sent.body)
    form = forms.ConsoleForm(endpoint=chosen, initial=initial)
    if sent.is_write:
        messages.info(request, "Check the write and confirm it with the office's name.")
        return _render(request, office, form, None)
    return _render(request, office, form, _send(request, office, form, sent))


def _send(request, office, form, sent) -> console.ConsoleResult | None:
    try:
        return console.console_send(
            office=office, actor=request.user, request=sent,
            confirm_office=form.cleaned_data.get("confirm_office", "") if form.is_bound else "",
        )  # fmt: skip
    except ValidationError as exc:
        service_errors_to_form(form, exc)
        return None


def _render(request, office, form, result) -> HttpResponse:
    columns, rows = console.table_of(result.data) if result else ([], [])
    context = {
        "office": office,
        "pick": forms.EndpointPickForm(initial={"endpoint": form.endpoint.key}),
        "form": form,
        "endpoint": form.endpoint,
        "result": result,
        "columns": columns,
        "rows": rows,
        "raw": result.raw if result else "",
        "next_offset": _next_offset(result, len(rows)),
        "history": selectors.console_history(office),
        "writes_enabled": console.console_writes_enabled(office.account),
        "is_owner": access.role_in(request, office.account) == "owner",
    }
    return render_page(request, "apitools/console.html", context, "result")


def _next_offset(result, count: int) -> int | None:
    """The Offset of the next page when this one came back full."""
    if result is None or not result.ok or count < result.page_size:
        return None
    return int(result.call.params.get("Offset") or 0) + count


@require_GET
def console_curl(request: HttpRequest, public_id, call_id) -> HttpResponse:
    """A history row as a curl line, keys as shell variables."""
    office, _ = office_for_user(request, public_id, write=True)
    call = get_object_or_404(ConsoleCall, office=office, public_id=call_id)
    return HttpResponse(console.console_curl(call) + "\n", content_type="text/plain")


@require_POST
def console_writes(request: HttpRequest, public_id) -> HttpResponse:
    """An owner turns console writes on or off for the office's account."""
    office, _ = office_for_user(request, public_id, write=True)
    access.require_owner(request, office.account)
    form = forms.ConsoleWritesForm(request.POST)
    if not form.is_valid():
        raise Http404
    enabled = form.cleaned_data["writes_enabled"]
    console.console_writes_set(account=office.account, actor=request.user, enabled=enabled)
    messages.success(request, f"Console writes {'on' if enabled else 'off'} for the account.")
    return redirect("apitools_console", public_id=office.public_id)
