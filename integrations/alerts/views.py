"""Alerts pages: open incidents (the overview's "needs attention"), and an account's channels
and policy. Members look; owners and operators acknowledge and mute; owners manage channels."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from integrations.accounts import access
from integrations.accounts.selectors import get_account_for_user
from integrations.accounts.views import account_page_context
from integrations.alerts import selectors
from integrations.alerts.forms import AlertSettingsForm, ChannelForm, ChannelRulesForm, MuteForm
from integrations.alerts.models import CAUSE_LABELS
from integrations.alerts.services import channels, incidents, policy
from odportal.lib.forms import posted, service_errors_to_form
from odportal.lib.htmx import redirect_page, render_page, wants_partial


@require_GET
def incident_list(request: HttpRequest) -> HttpResponse:
    """Open incidents grouped by cause (the overview loads this panel), then the oldest ones."""
    now = timezone.now()
    context = {
        "groups": selectors.incident_groups(request.user, now=now),
        # The overview's panel keeps to the groups and a few rows, so the page stays short.
        "incidents": selectors.incidents_recent(
            request.user, limit=10 if wants_partial(request) else 50
        ),
        "mute_form": MuteForm(),
    }
    context["open_total"] = sum(g.count for g in context["groups"])
    return render_page(request, "alerts/incidents.html", context, partial="panel")


@require_POST
def incident_acknowledge(request: HttpRequest, public_id) -> HttpResponse:
    """An owner or operator takes the incident."""
    incident = selectors.get_incident_for_user(request.user, public_id)
    access.require_actor(request, incident.account)
    incidents.incident_acknowledge(incident=incident, actor=request.user, now=timezone.now())
    return redirect_page(request, _back(request))


@require_POST
def incident_mute(request: HttpRequest, public_id) -> HttpResponse:
    """An owner or operator holds the incident's messages for some hours (0 unmutes)."""
    incident = selectors.get_incident_for_user(request.user, public_id)
    access.require_actor(request, incident.account)
    form = MuteForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Mute for 0 to 720 hours.")
        return redirect_page(request, _back(request))
    incidents.incident_mute(
        incident=incident, actor=request.user, hours=form.cleaned_data["hours"], now=timezone.now()
    )
    return redirect_page(request, _back(request))


def _back(request: HttpRequest) -> str:
    return "/" if request.POST.get("next") == "overview" else "/alerts/incidents/"


@require_http_methods(["GET", "POST"])
def account_alerts(request: HttpRequest, public_id) -> HttpResponse:
    """The account's channels (with their last deliveries) and its alerting policy."""
    account = get_account_for_user(request.user, public_id)
    data = posted(request)
    if data is not None:
        access.require_owner(request, account)
    form = AlertSettingsForm(data, instance=selectors.account_alert_settings(account))
    if data is not None and form.is_valid():
        try:
            policy.alert_settings_set(account=account, actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            service_errors_to_form(form, exc)
        else:
            messages.success(request, "Alert settings saved.")
            return redirect("account_alerts", account.public_id)
    return _alerts_page(request, account, settings_form=form, status=400 if data else 200)


@require_POST
def channel_add(request: HttpRequest, public_id) -> HttpResponse:
    """An owner adds a channel; a webhook's secret is shown this once."""
    account = get_account_for_user(request.user, public_id)
    access.require_owner(request, account)
    form = ChannelForm(request.POST)
    if form.is_valid():
        try:
            channel, secret = channels.channel_create(
                account=account, actor=request.user, **form.cleaned_data
            )
        except ValidationError as exc:
            service_errors_to_form(form, exc)
        else:
            if secret:
                return _alerts_page(request, account, new_secret=secret, new_channel=channel)
            messages.success(request, f"Channel {channel.name} added.")
            return redirect("account_alerts", account.public_id)
    return _alerts_page(request, account, channel_form=form, status=400)


@require_POST
def channel_test(request: HttpRequest, public_id) -> HttpResponse:
    """An owner sends a test message; the result shows in the channel's delivery log."""
    channel = selectors.get_channel_for_user(request.user, public_id)
    access.require_owner(request, channel.account)
    channels.channel_test(channel=channel, actor=request.user, now=timezone.now())
    messages.success(request, f"Test message queued for {channel.name}.")
    return redirect("account_alerts", channel.account.public_id)


@require_POST
def channel_rules(request: HttpRequest, public_id) -> HttpResponse:
    """An owner sets which causes a channel receives, and which only go into the digest."""
    channel = selectors.get_channel_for_user(request.user, public_id)
    access.require_owner(request, channel.account)
    form = ChannelRulesForm(request.POST, prefix=f"rules-{channel.pk}")
    if form.is_valid():
        try:
            channels.channel_rules_set(channel=channel, actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            service_errors_to_form(form, exc)
        else:
            messages.success(request, f"Rules of {channel.name} saved.")
            return redirect("account_alerts", channel.account.public_id)
    errors = " ".join(e for field in form.errors.values() for e in field)
    messages.error(request, f"Rules of {channel.name} not saved: {errors}")
    return redirect("account_alerts", channel.account.public_id)


@require_POST
def channel_delete(request: HttpRequest, public_id) -> HttpResponse:
    """An owner removes a channel."""
    channel = selectors.get_channel_for_user(request.user, public_id)
    access.require_owner(request, channel.account)
    account_id = channel.account.public_id
    channels.channel_delete(channel=channel, actor=request.user)
    messages.success(request, "Channel removed.")
    return redirect("account_alerts", account_id)


def _alerts_page(request: HttpRequest, account, status: int = 200, **extra) -> HttpResponse:
    context = account_page_context(request, account, "alerts", **extra)
    context.setdefault("settings_form", AlertSettingsForm(
        instance=selectors.account_alert_settings(account)))  # fmt: skip
    context.setdefault("channel_form", ChannelForm())
    context["channels"] = selectors.account_channels(account)
    for channel in context["channels"]:
        channel.receives = [CAUSE_LABELS.get(c, c) for c in channel.causes]
        channel.held = [CAUSE_LABELS.get(c, c) for c in channel.digest_only]
        channel.rules_form = ChannelRulesForm(
            initial={"causes": channel.causes, "digest_only": channel.digest_only},
            prefix=f"rules-{channel.pk}",
        )
    return render_page(request, "alerts/account.html", context, partial="channels", status=status)
