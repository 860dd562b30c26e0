"""Polls of an office: queue one now, and a run's live status badge."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from integrations.offices import forms
from integrations.offices.models import PollKind
from integrations.offices.selectors import offices as selectors
from integrations.offices.services.polling import dispatch
from integrations.offices.views._access import office_for_user
from odportal.lib.htmx import wants_partial

RUN_FINISHED = "run-finished"  # the event a finished run's badge sends (HX-Trigger)


@require_POST
def poll_now(request: HttpRequest, public_id) -> HttpResponse:
    """Queue a health poll or an aging refresh now; say so clearly when workers are down."""
    office, _ = office_for_user(request, public_id, write=True)
    form = forms.PollForm(request.POST)
    kind = form.cleaned_data["kind"] if form.is_valid() else PollKind.HEALTH
    created, error = dispatch.office_poll_now(office=office, kind=kind, actor=request.user)
    if not wants_partial(request):
        if error:
            messages.error(request, error)
        else:
            label = PollKind(kind).label
            messages.success(request, f"{label} queued." if created else f"{label} already runs.")
        return redirect("office_detail", public_id=office.public_id)
    context = {"office": office, "can_act": True, "poll_error": error, **poll_context(office)}
    return render(request, "offices/_poll_panel.html", context)


@require_GET
def run_badge(request: HttpRequest, public_id) -> HttpResponse:
    """A run's live badge; 286 (htmx: stop polling) once the run has finished, with a
    ``run-finished`` event the office page's health facts and recent runs reload on."""
    run = selectors.get_run_for_user(request.user, public_id)
    status = 200 if run.is_active else 286
    response = render(
        request,
        "offices/_run_badge.html",
        {"run": run, "office": run.office},
        status=status,
    )
    if not run.is_active:
        response["HX-Trigger"] = RUN_FINISHED
    return response


def poll_context(office) -> dict:
    """The office's active health and aging runs, and whether it can be polled at all."""
    return {
        "can_poll": office.keys.filter(is_current=True).exists(),
        "health_run": selectors.office_active_run(office, PollKind.HEALTH),
        "aging_run": selectors.office_active_run(office, PollKind.AGING),
    }
