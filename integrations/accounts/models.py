"""Developer accounts (the team), their members and roles, requested permissions, audit log
and login attempts.

Secrets are stored only encrypted (``odportal.lib.crypto``); models never call the network.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class PortalAccess(models.TextChoices):
    NOT_REQUESTED = "not_requested", "Not requested"
    REQUESTED = "requested", "Requested"
    GRANTED = "granted", "Granted"


class DeveloperAccount(models.Model):
    """A vendor's Open Dental developer account; its members form the team that sees it."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    company_name = models.CharField("product / integration owner", max_length=200)
    contact_phone = models.CharField(max_length=40)
    billing_email = models.EmailField("long-term billing email")
    billing_address = models.TextField("long-term billing mailing address")
    third_party_developer_name = models.CharField(max_length=200, blank=True)
    third_party_developer_email = models.EmailField(blank=True)
    app_description = models.TextField("description of the application")
    dev_name = models.CharField(
        "developer name in the portal",
        max_length=200,
        help_text="Exactly as entered in the Developer Portal; offices see it as apikey.DevName.",
    )
    developer_key_encrypted = models.TextField(blank=True)
    developer_key_last4 = models.CharField(max_length=4, blank=True)
    portal_key_encrypted = models.TextField(blank=True)
    portal_key_last4 = models.CharField(max_length=4, blank=True)
    portal_access = models.CharField(
        max_length=20, choices=PortalAccess.choices, default=PortalAccess.NOT_REQUESTED
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="developer_accounts"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["company_name"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(company_name=""), name="developeraccount_company_name_not_blank"
            ),
        ]

    def __str__(self) -> str:
        return self.company_name

    @property
    def has_developer_key(self) -> bool:
        return bool(self.developer_key_encrypted)

    @property
    def has_portal_key(self) -> bool:
        """Key actions reach Open Dental's Developer Portal (it needs both keys)."""
        return bool(self.portal_key_encrypted and self.developer_key_encrypted)


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    OPERATOR = "operator", "Operator"
    VIEWER = "viewer", "Viewer"


# The role rule: owners and operators act (offices, keys, polls); viewers only look.
ACTING_ROLES = (Role.OWNER, Role.OPERATOR)


class Membership(models.Model):
    """A user's role in one developer account."""

    account = models.ForeignKey(DeveloperAccount, on_delete=models.CASCADE)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "user"], name="membership_unique_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.role}) in {self.account}"

    @property
    def can_act(self) -> bool:
        return self.role in ACTING_ROLES


class ApiResource(models.TextChoices):
    """Open Dental API resources a developer can request access to (apipermissions.html)."""

    ACCOUNT_MODULES = "AccountModules", "Account modules"
    APPOINTMENTS = "Appointments", "Appointments"
    CLINICS = "Clinics", "Clinics"
    COMMLOGS = "Commlogs", "Commlogs"
    COMPUTERS = "Computers", "Computers"
    DOCUMENTS = "Documents", "Documents"
    INS_PLANS = "InsPlans", "Insurance plans"
    OPERATORIES = "Operatories", "Operatories"
    PATIENTS = "Patients", "Patients"
    PAYMENTS = "Payments", "Payments"
    PAY_PLANS = "PayPlans", "Payment plans"
    PREFERENCES = "Preferences", "Preferences"
    PROCEDURE_LOGS = "ProcedureLogs", "Procedure logs"
    PROVIDERS = "Providers", "Providers"
    QUERIES = "Queries", "Queries"
    REPORTS = "Reports", "Reports"
    SECURITY_PERMS = "SecurityPerms", "Security permissions"
    SIGNALODS = "Signalods", "Signals"
    SUBSCRIPTIONS = "Subscriptions", "Subscriptions (API events)"


class RequestedPermission(models.Model):
    """What the vendor asked Open Dental for, per resource: read / create / update."""

    account = models.ForeignKey(
        DeveloperAccount, on_delete=models.CASCADE, related_name="requested_permissions"
    )
    resource = models.CharField(max_length=40, choices=ApiResource.choices)
    can_read = models.BooleanField(default=False)
    can_create = models.BooleanField(default=False)
    can_update = models.BooleanField(default=False)

    class Meta:
        ordering = ["resource"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "resource"], name="requestedpermission_unique_resource"
            ),
        ]

    def __str__(self) -> str:
        flags = "".join(
            c
            for c, on in (("R", self.can_read), ("C", self.can_create), ("U", self.can_update))
            if on
        )
        return f"{self.resource}: {flags or '-'}"


class AuditEvent(models.Model):
    """Who did what to which object, when; written by every service that changes something."""

    account = models.ForeignKey(
        DeveloperAccount, null=True, blank=True, on_delete=models.CASCADE, related_name="audit"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=60)
    object_type = models.CharField(max_length=40)
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=200)
    detail = models.JSONField(default=dict, blank=True)
    # What the log's search box looks in, case-folded: the JSON column escapes non-ASCII as \u
    # on SQLite, and LIKE folds only ASCII case, so "zürich" would find neither "Zürich" nor
    # itself there. Kept up to date by save().
    search_text = models.TextField(blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["account", "-created_at"])]

    def __str__(self) -> str:
        who = self.actor or "system"
        return f"{self.created_at:%Y-%m-%d %H:%M} {who} {self.action} {self.object_repr}"

    def save(self, *args, **kwargs) -> None:
        self.search_text = audit_search_text(self.action, self.object_repr, self.detail)
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "search_text"}
        super().save(*args, **kwargs)

    @property
    def detail_pairs(self) -> list[tuple[str, str]]:
        """The detail as readable (key, value) pairs, in the order they were recorded."""
        return detail_pairs(self.detail)


def detail_value_text(value) -> str:
    """One detail value as people read it: lists comma-separated, mappings as key: value."""
    if isinstance(value, dict):
        return "; ".join(f"{k}: {detail_value_text(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(detail_value_text(v) for v in value)
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def detail_pairs(detail) -> list[tuple[str, str]]:
    """An audit detail as (key, readable value) pairs (a non-mapping detail is one pair)."""
    if not isinstance(detail, dict):
        return [("detail", detail_value_text(detail))] if detail else []
    return [(str(k), detail_value_text(v)) for k, v in detail.items()]


def audit_search_text(action: str, object_repr: str, detail) -> str:
    """The case-folded text the audit search matches: action, object and detail pairs."""
    pairs = " ".join(f"{k}: {v}" for k, v in detail_pairs(detail))
    return f"{action} {object_repr} {pairs}".casefold()


class LoginAttempt(models.Model):
    """One failed (or refused) login: who was tried, from where, when. Never the password."""

    username = models.CharField(max_length=150, db_index=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # True when the throttle refused the attempt without checking the password.
    refused = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        verb = "refused" if self.refused else "failed"
        when = f"{self.created_at:%Y-%m-%d %H:%M}"
        return f"{when} {verb} login {self.username!r} from {self.ip_address}"


class Invitation(models.Model):
    """An owner's invitation to join an account: a role offered to an email address.

    Only a hash of the token is stored; the token itself travels in the email's link. Nobody
    becomes a member until they open the link and accept."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    account = models.ForeignKey(
        DeveloperAccount, on_delete=models.CASCADE, related_name="invitations"
    )
    email = models.EmailField()
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # One open invitation per address and account: inviting again replaces it.
            models.UniqueConstraint(
                fields=["account", "email"],
                condition=Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="invitation_one_open_per_email",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} ({self.role}) to {self.account}"

    @property
    def is_pending(self) -> bool:
        """Open: neither accepted, revoked nor expired."""
        return (
            self.accepted_at is None
            and self.revoked_at is None
            and self.expires_at > timezone.now()
        )
