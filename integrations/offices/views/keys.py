"""Customer keys of an office: add, the confirmed actions (disable, enable, rotate, move)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from integrations.accounts import selectors as account_selectors
from integrations.offices import forms
from integrations.offices.selectors import offices as selectors
from integrations.offices.services import keys as key_services
from integrations.offices.services import portal as portal_services
from integrations.offices.views._access import office_for_user
from odportal.lib.forms import posted, service_errors_to_form
from odportal.lib.htmx import redirect_page, render_page


@require_http_methods(["GET", "POST"])
@sensitive_post_parameters("customer_key")
def key_add(request: HttpRequest, public_id) -> HttpResponse:
    """Add a customer key; the page (or fragment) never shows the submitted key again."""
    office, _ = office_for_user(request, public_id, write=True)
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
            return redirect_page(request, reverse("office_detail", args=[office.public_id]))
    context = {"office": office, "key_form": form}
    return render_page(request, "offices/key_add.html", context, "key_form")


@require_POST
def key_generate(request: HttpRequest, public_id) -> HttpResponse:
    """Generate the office's customer key at Open Dental, then show its onboarding page."""
    office, _ = office_for_user(request, public_id, write=True)
    try:
        key = portal_services.customer_key_generate(office=office, actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect_page(request, reverse("office_detail", args=[office.public_id]))
    messages.success(request, f"Key …{key.last4} generated at Open Dental; it is the current key.")
    return redirect_page(request, reverse("office_onboarding", args=[office.public_id]))


@require_GET
def office_onboarding(request: HttpRequest, public_id) -> HttpResponse:
    """What the office's IT does with a generated key, and each step's live status."""
    office, can_act = office_for_user(request, public_id)
    return _onboarding(request, office, can_act, revealed="")


@require_POST
@never_cache
@sensitive_variables("revealed")
def key_reveal(request: HttpRequest, public_id) -> HttpResponse:
    """Show the generated key in full (owners and operators, until the first successful poll)."""
    office, can_act = office_for_user(request, public_id, write=True)
    key = selectors.onboarding_key(office)
    if key is None:
        raise Http404("No generated key.")
    try:
        revealed = key_services.customer_key_reveal(key=key, actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        revealed = ""
    return _onboarding(request, office, can_act, revealed=revealed)


@sensitive_variables("revealed")
def _onboarding(request: HttpRequest, office, can_act: bool, *, revealed: str) -> HttpResponse:
    key = selectors.onboarding_key(office)
    steps = selectors.onboarding_steps(office, key) if key else []
    context = {
        "office": office,
        "key": key,
        "steps": steps,
        "all_done": bool(steps) and all(step.state == "done" for step in steps),
        "can_reveal": can_act and key is not None and key_services.key_revealable(key),
        "revealed": revealed,
    }
    return render_page(request, "offices/onboarding.html", context, "steps")


KEY_ACTIONS = {
    "disable": (forms.ReasonForm, "Disable key", True),
    "enable": (forms.KeyEnableForm, "Enable key", False),
    "rotate": (forms.KeyRotateForm, "Rotate key", True),
    "move": (forms.KeyMoveForm, "Move key", True),
}


@require_http_methods(["GET", "POST"])
@sensitive_post_parameters("customer_key")
def key_action(request: HttpRequest, public_id, key_id, action: str) -> HttpResponse:
    """Confirm (GET) and perform (POST) one key action; the reason goes to the audit log."""
    office, _ = office_for_user(request, public_id, write=True)
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
            return redirect_page(request, reverse("office_detail", args=[office.public_id]))
    context = {
        "office": office,
        "key": key,
        "form": form,
        "action": action,
        "title": title,
        "destructive": destructive,
        **portal_context(office),
    }
    if action == "move":
        picked = form.cleaned_data.get("to_office") if form.is_bound else None
        context |= _move_choices_context(request, office, picked)
    return render_page(request, "offices/key_action.html", context, "form")


def portal_context(office) -> dict:
    """Whether key actions reach Open Dental, and where the account's portal key is set."""
    account = office.account
    url = reverse("account_edit", args=[account.public_id]) + "#id_portal_key"
    return {
        "portal": account.has_portal_key,
        "portal_settings_url": url,
        "portal_url": account_selectors.PORTAL_URL,
    }


@require_GET
def key_move_choices(request: HttpRequest, public_id, key_id) -> HttpResponse:
    """The move form's office list for a search (htmx, as the user types)."""
    office, _ = office_for_user(request, public_id, write=True)
    selectors.get_key_for_office(office, key_id)
    context = _move_choices_context(request, office, None)
    return render(request, "offices/_move_choices.html", context)


def _move_choices_context(request: HttpRequest, office, picked) -> dict:
    q = request.GET.get("q", "").strip()[:100]
    choices, total = selectors.move_target_choices(office, q, picked)
    selected = str(picked.public_id) if picked is not None else ""
    return {"move_q": q, "move_choices": choices, "move_total": total, "move_selected": selected}


@sensitive_variables("data")
def _perform_key_action(action: str, key, data: dict, actor) -> str:
    reason = data.get("reason", "")
    if action == "disable":
        portal_services.customer_key_disable(key=key, actor=actor, reason=reason)
        if key.portal_action:
            return f"Disabling key …{key.last4} at Open Dental; its row shows the outcome."
        return f"Key …{key.last4} disabled in odportal only: disable it in the portal too."
    if action == "enable":
        portal_services.customer_key_enable(key=key, actor=actor, reason=reason)
        if key.portal_action:
            return f"Enabling key …{key.last4} at Open Dental; its row shows the outcome."
        return f"Key …{key.last4} enabled and is the current key again."
    if action == "rotate":
        new = portal_services.customer_key_rotate(
            key=key, new_key=data["customer_key"], actor=actor, reason=reason
        )
        return f"Key …{key.last4} replaced by …{new.last4}."
    to_office = data["to_office"]
    key_services.customer_key_move(key=key, to_office=to_office, actor=actor, reason=reason)
    done = f"Key …{key.last4} moved to {to_office.name} (works within 15 minutes)."
    spare = selectors.office_spare_enabled_keys(to_office)
    if spare:
        listed = ", ".join(f"…{k.last4}" for k in spare)
        done += (
            f" {to_office.name}'s previous key {listed} is still enabled (valid and billed at "
            "Open Dental): disable it if it is no longer used."
        )
    return done
