"""Reads for the alerts pages, always scoped to the user's developer accounts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Min, OuterRef, Q, QuerySet, Subquery
from django.http import Http404

from integrations.accounts.models import DeveloperAccount, Membership
from integrations.alerts.models import (
    CAUSE_LABELS,
    OTHER_WHO_ACTS,
    AlertSettings,
    Channel,
    Delivery,
    Incident,
    OtherCause,
)
from integrations.offices.models import PROBLEM_STATUSES, CustomerKey
from integrations.offices.selectors.offices import WHO_ACTS, who_acts


def _user_accounts(user: AbstractBaseUser):
    return Membership.objects.filter(user=user).values("account_id")


def open_incidents_for_user(user: AbstractBaseUser) -> QuerySet[Incident]:
    """Open incidents of the user's accounts."""
    return Incident.objects.filter(resolved_at__isnull=True, account_id__in=_user_accounts(user))


@dataclass(frozen=True)
class IncidentGroup:
    cause: str
    label: str
    who_acts: str
    count: int
    new_today: int
    acknowledged: int
    oldest: datetime

    @property
    def is_office_status(self) -> bool:
        """Whether the office list can filter by this cause (a status of offices)."""
        return self.cause in PROBLEM_STATUSES


# The deployment first (nothing else works while it is down), then the office statuses worst
# first, then the causes that leave polling working.
CAUSE_ORDER = [OtherCause.DEPLOYMENT, *PROBLEM_STATUSES, OtherCause.EVENTS_STOPPED,
               OtherCause.AGING_DRIFT]  # fmt: skip


def incident_groups(user: AbstractBaseUser, *, now: datetime) -> list[IncidentGroup]:
    """Open incidents by cause, worst cause first: how many, how many new since yesterday, how
    many acknowledged (one GROUP BY over the open-incident index)."""
    rows = (
        open_incidents_for_user(user).values("cause").order_by()
        .annotate(n=Count("id"), new=Count("id", filter=Q(opened_at__gte=now - timedelta(days=1))),
                  acked=Count("id", filter=Q(acknowledged_at__isnull=False)),
                  oldest=Min("first_seen"))
    )  # fmt: skip
    order = {s: i for i, s in enumerate(CAUSE_ORDER)}
    groups = [
        IncidentGroup(r["cause"], CAUSE_LABELS.get(r["cause"], r["cause"]),
                      OTHER_WHO_ACTS.get(r["cause"]) or WHO_ACTS.get(r["cause"], ""),
                      r["n"], r["new"], r["acked"], r["oldest"])
        for r in rows
    ]  # fmt: skip
    return sorted(groups, key=lambda g: order.get(g.cause, len(order)))


def incidents_recent(user: AbstractBaseUser, *, limit: int = 50) -> list[Incident]:
    """The open incidents shown under the groups: oldest problem first, with their office and
    who must act (by the current key's status where that decides)."""
    key_status = CustomerKey.objects.filter(office=OuterRef("office_id"), is_current=True)
    rows = list(
        open_incidents_for_user(user)
        .select_related("office", "account", "acknowledged_by", "muted_by")
        .annotate(key_status=Subquery(key_status.values("status")[:1]))
        .order_by("first_seen", "pk")[:limit]
    )
    for incident in rows:
        incident.who_acts = OTHER_WHO_ACTS.get(incident.cause) or who_acts(
            incident.cause, incident.key_status
        )
    return rows


def get_incident_for_user(user: AbstractBaseUser, public_id) -> Incident:
    """One incident of the user's accounts; 404 otherwise."""
    incident = (
        Incident.objects.filter(public_id=public_id, account_id__in=_user_accounts(user))
        .select_related("account", "office").first()
    )  # fmt: skip
    if incident is None:
        raise Http404("No such incident.")
    return incident


def account_alert_settings(account: DeveloperAccount) -> AlertSettings:
    """The account's policy (defaults, unsaved, when it never set one)."""
    return AlertSettings.objects.filter(account=account).first() or AlertSettings(account=account)


def account_channels(account: DeveloperAccount, *, deliveries: int = 5) -> list[Channel]:
    """The account's channels, each with its last deliveries (two queries)."""
    channels = list(Channel.objects.filter(account=account))
    recent = Delivery.objects.filter(channel__in=channels).order_by("-created_at", "-id")
    by_channel: dict[int, list[Delivery]] = {c.pk: [] for c in channels}
    for d in recent.select_related("incident__office")[: deliveries * max(len(channels), 1) * 4]:
        if len(by_channel[d.channel_id]) < deliveries:
            by_channel[d.channel_id].append(d)
    for channel in channels:
        channel.recent_deliveries = by_channel[channel.pk]
    return channels


def get_channel_for_user(user: AbstractBaseUser, public_id) -> Channel:
    """One channel of the user's accounts; 404 otherwise."""
    channel = (
        Channel.objects.filter(public_id=public_id, account_id__in=_user_accounts(user))
        .select_related("account").first()
    )  # fmt: skip
    if channel is None:
        raise Http404("No such channel.")
    return channel
