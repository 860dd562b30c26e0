"""Incidents, notification channels, their deliveries, and odportal's own heartbeats.

A separate aggregate from offices: an incident reads an office's health (offices never import
this app), and a delivery hangs off an incident and a channel. Secrets are stored encrypted
(``odportal.lib.crypto``); models never call the network.
"""

from __future__ import annotations

import uuid
from datetime import time

from django.conf import settings
from django.db import models
from django.db.models import Q

from integrations.offices.models import OfficeStatus

DEFAULT_GRACE_POLLS = 2


class AlertSettings(models.Model):
    """An account's alerting policy: grace, quiet hours (in each office's time zone), repeats."""

    account = models.OneToOneField(
        "accounts.DeveloperAccount", on_delete=models.CASCADE, related_name="alert_settings"
    )
    grace_polls = models.PositiveSmallIntegerField(
        default=DEFAULT_GRACE_POLLS, help_text="Consecutive failed health polls before an incident."
    )
    quiet_start = models.TimeField(null=True, blank=True, help_text="e.g. 19:00 (office time)")
    quiet_end = models.TimeField(null=True, blank=True, help_text="e.g. 07:00 (office time)")
    # Weekdays the offices are closed (0 = Monday .. 6 = Sunday): quiet all day.
    quiet_days = models.JSONField(default=list, blank=True)
    repeat_hours = models.PositiveSmallIntegerField(
        default=6, help_text="At most one message per office and cause in this many hours."
    )
    # The daily digest email: at this hour (0-23) of ``digest_time_zone``; None: no digest.
    digest_hour = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Hour of the daily digest email (empty: no digest)."
    )
    digest_time_zone = models.CharField(max_length=64, default="UTC")
    # Aging drift: an incident per office whose 90+ bucket grew by more than this many percent
    # since the snapshot of a week ago; None: off.
    aging_drift_pct = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="90+ bucket grew by more than X% since last week."
    )

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(grace_polls__gte=1), name="alertsettings_grace_min"),
            models.CheckConstraint(
                condition=Q(digest_hour__isnull=True) | Q(digest_hour__lte=23),
                name="alertsettings_digest_hour",
            ),
            models.CheckConstraint(
                condition=Q(quiet_start__isnull=True, quiet_end__isnull=True)
                | Q(quiet_start__isnull=False, quiet_end__isnull=False),
                name="alertsettings_quiet_both_or_none",
            ),
        ]

    def __str__(self) -> str:
        return f"alert settings of {self.account}"

    @property
    def quiet_window(self) -> tuple[time, time] | None:
        if self.quiet_start is None or self.quiet_end is None:
            return None
        return self.quiet_start, self.quiet_end


class Resolution(models.TextChoices):
    OK = "ok", "OK again"
    NOT_MONITORED = "not_monitored", "No longer monitored (polling off or key disabled)"


class IncidentSource(models.TextChoices):
    """What opened an incident: an office's problem status, or a cause that is not one."""

    OFFICE_STATUS = "office_status", "Office health"
    API_EVENTS = "api_events", "API Events dead-man switch"
    AGING_DRIFT = "aging_drift", "Aging drift rule"
    DEPLOYMENT = "deployment", "odportal itself"


class OtherCause(models.TextChoices):
    """Causes that are not office statuses (one per source but office health)."""

    EVENTS_STOPPED = "events_stopped", "API Events stopped"
    AGING_DRIFT = "aging_drift", "Aging drift"
    DEPLOYMENT = "deployment", "odportal not running"


CAUSE_CHOICES = [*OfficeStatus.choices, *OtherCause.choices]
CAUSE_LABELS = dict(CAUSE_CHOICES)
# What an incident can be about (a channel's rules choose among these): never "OK" or
# "never polled", which open nothing.
INCIDENT_CAUSES = [
    (c, label) for c, label in CAUSE_CHOICES
    if c not in (OfficeStatus.OK, OfficeStatus.NEVER_POLLED)
]  # fmt: skip
# Who must act on the causes that are not office statuses (those are in offices' WHO_ACTS).
OTHER_WHO_ACTS = {
    OtherCause.EVENTS_STOPPED: "The office's IT: start the workstation running Open Dental",
    OtherCause.AGING_DRIFT: "The vendor or the office: look at the 90+ balances",
    OtherCause.DEPLOYMENT: "odportal's operators: start the worker and the beat",
}


class Incident(models.Model):
    """One problem from the grace until it is over (Sentry's grouped issue): an office's
    health, its API Events or aging, or (no office) the deployment itself, per account."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    office = models.ForeignKey(
        "offices.Office", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    account = models.ForeignKey(
        "accounts.DeveloperAccount", on_delete=models.CASCADE, related_name="+"
    )
    source = models.CharField(
        max_length=20, choices=IncidentSource.choices, default=IncidentSource.OFFICE_STATUS
    )
    cause = models.CharField(max_length=20, choices=CAUSE_CHOICES)
    # What the cause cannot say by itself (e.g. "90+ grew 42% since 2026-02-25").
    detail = models.CharField(max_length=300, blank=True)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    count = models.PositiveIntegerField(default=1, help_text="Consecutive failed polls.")
    opened_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.CharField(max_length=20, choices=Resolution.choices, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    muted_until = models.DateTimeField(null=True, blank=True)
    muted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Whether its opening / resolution messages were planned (deliveries created, or none
    # because of the repeat cap): the evaluation plans each once.
    open_planned = models.BooleanField(default=False)
    resolve_planned = models.BooleanField(default=False)

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            # One open incident per office and source; the deployment's: one per account.
            models.UniqueConstraint(
                fields=["office", "source"],
                condition=Q(resolved_at__isnull=True),
                name="incident_one_open_per_source",
            ),
            models.UniqueConstraint(
                fields=["account", "source"],
                condition=Q(resolved_at__isnull=True, office__isnull=True),
                name="incident_one_open_without_office",
            ),
            models.CheckConstraint(
                condition=Q(office__isnull=False) | Q(source="deployment"),
                name="incident_office_unless_deployment",
            ),
        ]
        indexes = [
            models.Index(fields=["account", "cause"], condition=Q(resolved_at__isnull=True),
                         name="incident_open_by_cause"),
            models.Index(fields=["office", "-opened_at"], name="incident_office_recent"),
        ]  # fmt: skip

    def __str__(self) -> str:
        where = self.office_id or "deployment"
        return f"{where}: {self.cause} since {self.first_seen:%Y-%m-%d %H:%M}"

    @property
    def duration_minutes(self) -> int | None:
        if self.resolved_at is None:
            return None
        return int((self.resolved_at - self.first_seen).total_seconds() // 60)


class ChannelKind(models.TextChoices):
    EMAIL = "email", "Email"
    WEBHOOK = "webhook", "Signed webhook"
    CHAT = "chat", "Chat (Slack, Teams, Discord, ... through Apprise)"


class Channel(models.Model):
    """Where an account's notifications go: email addresses, or a signed JSON webhook."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    account = models.ForeignKey(
        "accounts.DeveloperAccount", on_delete=models.CASCADE, related_name="alert_channels"
    )
    kind = models.CharField(max_length=10, choices=ChannelKind.choices)
    name = models.CharField(max_length=100)
    # Email: comma-separated addresses (empty: every member with an address). Webhook: the URL.
    # Chat: only the service's scheme, for display; its Apprise URL holds tokens, so it is the
    # secret.
    target = models.TextField(blank=True)
    secret_encrypted = models.TextField(blank=True)
    secret_last4 = models.CharField(max_length=4, blank=True)
    enabled = models.BooleanField(default=True)
    # Rules: the causes this channel receives (empty: all), and those of them that wait for
    # the daily digest instead of a message of their own.
    causes = models.JSONField(default=list, blank=True)
    digest_only = models.JSONField(default=list, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=~Q(name=""), name="channel_name_not_blank"),
            models.CheckConstraint(
                condition=~Q(kind="webhook") | ~Q(target=""), name="channel_webhook_has_url"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"


class DeliveryEvent(models.TextChoices):
    OPENED = "opened", "Incident opened"
    RESOLVED = "resolved", "Incident resolved"
    TEST = "test", "Test message"


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class Delivery(models.Model):
    """One message to one channel, and how sending it went (the channel's delivery log)."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="deliveries")
    incident = models.ForeignKey(
        Incident, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.CharField(max_length=10, choices=DeliveryEvent.choices)
    state = models.CharField(
        max_length=10, choices=DeliveryState.choices, default=DeliveryState.PENDING
    )
    created_at = models.DateTimeField()
    # Held until then (quiet hours, or the next retry's backoff).
    not_before = models.DateTimeField()
    queued_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # One opening and one resolution message per incident and channel, ever.
            models.UniqueConstraint(
                fields=["incident", "channel", "event"],
                condition=Q(incident__isnull=False),
                name="delivery_once_per_event",
            ),
        ]
        indexes = [
            models.Index(fields=["state", "not_before"], name="delivery_due"),
            models.Index(fields=["channel", "-created_at"], name="delivery_channel_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.event} to {self.channel_id}: {self.state}"


class Digest(models.Model):
    """An account's daily digest email: one row per account and local day is the claim, so a
    beat task that runs twice sends it once."""

    account = models.ForeignKey(
        "accounts.DeveloperAccount", on_delete=models.CASCADE, related_name="+"
    )
    day = models.DateField()
    created_at = models.DateTimeField()
    state = models.CharField(
        max_length=10, choices=DeliveryState.choices, default=DeliveryState.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True)
    recipients = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-day", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "day"], name="digest_once_per_day"),
        ]

    def __str__(self) -> str:
        return f"digest of {self.account_id} for {self.day}: {self.state}"


class Heartbeat(models.Model):
    """The last sign of life of the beat (``sweep``) or of one worker (``worker:<hostname>``),
    and the broker's queue depth (``queue``, in ``value``) as last measured."""

    name = models.CharField(max_length=200, unique=True)
    at = models.DateTimeField()
    value = models.IntegerField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} at {self.at:%Y-%m-%d %H:%M:%S}"
