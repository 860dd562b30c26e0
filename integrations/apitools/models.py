"""The API console's history and account setting, and the API Events inbox (receiving URLs,
received batches). Models never call the network.

Response bodies are never stored: the console shows them once; the history keeps only what was
sent, who sent it, the status and the time taken.
"""

from __future__ import annotations

import secrets
import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class ConsoleSettings(models.Model):
    """Per account: whether the console may send writes (POST/PUT) to its offices."""

    account = models.OneToOneField(
        "accounts.DeveloperAccount", on_delete=models.CASCADE, related_name="console_settings"
    )
    writes_enabled = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"console settings of {self.account}"


class ConsoleCall(models.Model):
    """One request sent from the console: what was sent (never the answer), by whom, how it went."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    office = models.ForeignKey(
        "offices.Office", on_delete=models.CASCADE, related_name="console_calls"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    method = models.CharField(max_length=6)
    path = models.CharField(max_length=500)
    params = models.JSONField(default=dict, blank=True)
    # The request body as sent (JSON text; the SqlCommand for a ShortQuery), for re-runs.
    body = models.TextField(blank=True)
    status = models.PositiveSmallIntegerField(null=True, blank=True)
    elapsed_ms = models.PositiveIntegerField(default=0)
    paced_ms = models.PositiveIntegerField(default=0)
    rows = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["office", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def is_write(self) -> bool:
        return self.method in ("POST", "PUT", "DELETE") and self.path != "/queries/ShortQuery"


def _token() -> str:
    return secrets.token_urlsafe(32)


class EventInbox(models.Model):
    """An office's receiving URL for API Events: the unguessable token in its path."""

    office = models.OneToOneField(
        "offices.Office", on_delete=models.CASCADE, related_name="event_inbox"
    )
    token = models.CharField(max_length=64, unique=True, default=_token)
    # POSTs refused for a wrong or missing Authorization header: counted, never stored.
    rejected = models.PositiveIntegerField(default=0)
    last_rejected_at = models.DateTimeField(null=True, blank=True)
    last_received_at = models.DateTimeField(null=True, blank=True)
    # The dead-man switch: the shortest PollingSeconds of the subscriptions that post here (0:
    # none expected), since when, and when silence past the cadence was noticed (cleared by the
    # next delivery).
    expected_every_s = models.PositiveIntegerField(default=0)
    watching_since = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    # Optional forwarding of each stored batch to the vendor's own endpoint, signed with this
    # secret (encrypted at rest; shown once when set).
    forward_url = models.URLField(max_length=500, blank=True)
    forward_secret_encrypted = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"inbox of {self.office}"


class EventBatch(models.Model):
    """One POST of API Events: its headers and rows (an array, or a UI event's one object)."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    office = models.ForeignKey("offices.Office", on_delete=models.CASCADE, related_name="+")
    received_at = models.DateTimeField(default=timezone.now)
    workstation = models.CharField(max_length=200, blank=True)
    event_type = models.CharField(max_length=200, blank=True)
    # "Appointment" of "WatchTable: Appointment" ("" for UI events).
    table = models.CharField(max_length=100, blank=True)
    body_sha256 = models.CharField(max_length=64)
    row_count = models.PositiveIntegerField(default=0)
    rows = models.JSONField(default=list)
    # The rows' keys in the order Open Dental sent them: Postgres's jsonb reorders object keys
    # (shortest first), and the table and CSV should read like the API's own field order.
    columns = models.JSONField(default=list, blank=True)
    forwarded_at = models.DateTimeField(null=True, blank=True)
    forward_attempts = models.PositiveSmallIntegerField(default=0)
    forward_error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["office", "-received_at"]),
            models.Index(fields=["office", "body_sha256"]),
            models.Index(fields=["received_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.event_type or 'event'} ({self.row_count} rows)"
