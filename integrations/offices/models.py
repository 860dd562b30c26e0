"""Offices and their customer keys, clinics, health history, poll runs and aging snapshots.

Office -> PollRun -> AgingSnapshot -> AgingRow is one aggregate. Keys are stored only encrypted
(``odportal.lib.crypto``); models never call the network.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Case, Q, Value, When
from django.utils import timezone

from integrations.opendental import network
from odportal.lib.timefmt import plural

# The aging buckets, in display order: AgingRow's and AgingSnapshot's money columns (the one
# definition; Office keeps the current snapshot's as OFFICE_AGING_FIELDS).
AGING_BUCKETS = ("bal_0_30", "bal_31_60", "bal_61_90", "bal_over_90", "ins_est", "bal_total")


def _money(**kwargs) -> models.DecimalField:
    return models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"), **kwargs)


class ApiMode(models.TextChoices):
    REMOTE = "remote", "Remote"
    SERVICE = "service", "Service"
    LOCAL = "local", "Local"


class OfficeStatus(models.TextChoices):
    """Health of an office as last polled; the cause decides who must act."""

    NEVER_POLLED = "never_polled", "Never polled"
    OK = "ok", "OK"
    KEY_REJECTED = "key_rejected", "Key rejected"
    KEY_DISABLED = "key_disabled", "Key disabled"
    NO_KEY = "no_key", "No key"
    PERMISSION_MISSING = "permission_missing", "Permission missing"
    ECONNECTOR_DOWN = "econnector_down", "eConnector down"
    THROTTLED = "throttled", "Throttled"
    TIMED_OUT = "timed_out", "Timed out"
    OD_ERROR = "od_error", "Open Dental error"
    UNREACHABLE = "unreachable", "Unreachable"


# The key works and the office answers (a missing write permission does not stop aging,
# which falls back to /reports/Aging without ApiQueries): these offices get aging refreshes.
ANSWERING_STATUSES = (OfficeStatus.OK, OfficeStatus.PERMISSION_MISSING)

# The problem statuses, worst first: the order of the overview's "needs attention" list.
PROBLEM_STATUSES = (
    OfficeStatus.KEY_REJECTED,
    OfficeStatus.KEY_DISABLED,
    OfficeStatus.NO_KEY,
    OfficeStatus.PERMISSION_MISSING,
    OfficeStatus.ECONNECTOR_DOWN,
    OfficeStatus.UNREACHABLE,
    OfficeStatus.OD_ERROR,
    OfficeStatus.TIMED_OUT,
    OfficeStatus.THROTTLED,
)


def office_severity() -> Case:
    """0 for the worst problem .. then OK, then never polled: the attention list's first key.

    The same expression leads the ``office_attention_order`` index, so the list is read in
    index order and stops at the rows shown instead of sorting every office.
    """
    return Case(
        *[When(status=s, then=Value(i)) for i, s in enumerate(PROBLEM_STATUSES)],
        When(status=OfficeStatus.OK, then=Value(len(PROBLEM_STATUSES))),
        default=Value(len(PROBLEM_STATUSES) + 1),
        output_field=models.IntegerField(),
    )


# Office column <- its current snapshot's bucket (the denormalised receivables).
OFFICE_AGING_FIELDS = {
    "aging_0_30": "bal_0_30",
    "aging_31_60": "bal_31_60",
    "aging_61_90": "bal_61_90",
    "aging_over_90": "bal_over_90",
    "aging_ins_est": "ins_est",
    "aging_total": "bal_total",
}


class Office(models.Model):
    """A customer office of one developer account, with its cached health."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    account = models.ForeignKey(
        "accounts.DeveloperAccount", on_delete=models.PROTECT, related_name="offices"
    )
    name = models.CharField(max_length=200)
    reference = models.CharField("reference label", max_length=100, blank=True)
    api_mode = models.CharField(max_length=10, choices=ApiMode.choices, default=ApiMode.REMOTE)
    # Service and Local only: the office's own server. Remote offices go to the deployment's
    # OPENDENTAL_REMOTE_BASE_URL (``api_base_url``) and store none.
    base_url = models.URLField("server address", max_length=300, blank=True, default="")
    time_zone = models.CharField(max_length=64, default="America/New_York")
    notes = models.TextField(blank=True)
    polling_enabled = models.BooleanField(default=True)
    health_interval_s = models.PositiveIntegerField(default=300)
    created_at = models.DateTimeField(auto_now_add=True)

    # Health cache, written only by the polling services.
    status = models.CharField(
        max_length=20, choices=OfficeStatus.choices, default=OfficeStatus.NEVER_POLLED
    )
    status_since = models.DateTimeField(null=True, blank=True)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    granted_permissions = models.JSONField(default=list, blank=True)
    missing_permissions = models.JSONField(default=list, blank=True)
    program_version = models.CharField(max_length=40, blank=True)
    date_last_aging = models.DateField(null=True, blank=True)
    aging_service_time_due = models.TimeField(null=True, blank=True)
    next_health_at = models.DateTimeField(null=True, blank=True)
    # The last full health check (permissions, version, clinics) and the key it checked: most
    # health polls are one liveness request; a full check follows when these say it is due.
    health_full_at = models.DateTimeField(null=True, blank=True)
    health_full_key = models.ForeignKey(
        "CustomerKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    next_aging_at = models.DateTimeField(null=True, blank=True)

    # Denormalised from the current snapshot so the office list sorts 10,000 rows and the
    # overview sums them without joining the snapshots.
    current_snapshot = models.ForeignKey(
        "AgingSnapshot", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    aging_0_30 = _money()
    aging_31_60 = _money()
    aging_61_90 = _money()
    aging_over_90 = _money()
    aging_ins_est = _money()
    aging_total = _money()
    # The one-time token of the add-office form that created it: a second POST of the same form
    # (a triple-click, a reload) finds this office instead of adding another.
    creation_token = models.UUIDField(null=True, blank=True, unique=True, editable=False)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "reference"],
                condition=~Q(reference=""),
                name="office_unique_reference",
            ),
            models.CheckConstraint(condition=~Q(name=""), name="office_name_not_blank"),
            models.CheckConstraint(
                condition=Q(api_mode=ApiMode.REMOTE, base_url="")
                | (~Q(api_mode=ApiMode.REMOTE) & ~Q(base_url="")),
                name="office_base_url_only_own_server",
            ),
        ]
        # Postgres also has trigram indexes on UPPER(name) and UPPER(reference) for the
        # list's search (migration 0006; not declared here because SQLite has no GIN).
        indexes = [
            models.Index(fields=["account", "status"]),
            models.Index(fields=["polling_enabled", "next_health_at"]),
            # The list's default order (and its filters' pages) read in order, no sort.
            models.Index(fields=["name", "id"], name="office_name_id"),
            models.Index(office_severity(), "status_since", "name", name="office_attention_order"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def api_base_url(self) -> str:
        """Where this office's requests (and keys) go: the deployment's Open Dental URL for a
        Remote office, its own server for a Service or Local one."""
        if self.api_mode == ApiMode.REMOTE:
            return settings.OPENDENTAL_REMOTE_BASE_URL
        return self.base_url

    @property
    def api_host(self) -> str:
        """The host (and port) of ``api_base_url``, as shown to people."""
        return network.base_url_host(self.api_base_url)

    @property
    def over_90_share(self) -> Decimal | None:
        if not self.aging_total:
            return None
        return (self.aging_over_90 / self.aging_total * 100).quantize(Decimal("0.1"))


class OfficeStatusChange(models.Model):
    """One change of an office's status: the office's health history."""

    office = models.ForeignKey(Office, on_delete=models.CASCADE, related_name="status_changes")
    status = models.CharField(max_length=20, choices=OfficeStatus.choices)
    previous = models.CharField(max_length=20, choices=OfficeStatus.choices, blank=True)
    at = models.DateTimeField(default=timezone.now)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["office", "-at"])]

    def __str__(self) -> str:
        return f"{self.office}: {self.previous or '-'} -> {self.status} at {self.at:%Y-%m-%d %H:%M}"


class Clinic(models.Model):
    """A clinic of an office, as returned by GET /clinics."""

    office = models.ForeignKey(Office, on_delete=models.CASCADE, related_name="clinics")
    clinic_num = models.PositiveIntegerField()
    description = models.CharField(max_length=200, blank=True)
    abbr = models.CharField(max_length=40, blank=True)
    is_hidden = models.BooleanField(default=False)

    class Meta:
        ordering = ["clinic_num"]
        constraints = [
            models.UniqueConstraint(fields=["office", "clinic_num"], name="clinic_unique_num"),
        ]

    def __str__(self) -> str:
        return self.abbr or self.description or f"Clinic {self.clinic_num}"


class KeyStatus(models.TextChoices):
    ENABLED = "enabled", "Enabled"
    DISABLED_BY_DEVELOPER = "disabled_by_developer", "Disabled by developer"
    DISABLED_BY_CUSTOMER = "disabled_by_customer", "Disabled by customer"
    DISABLED_BY_HQ = "disabled_by_hq", "Disabled by Open Dental HQ"
    PENDING_MOVE = "pending_move", "Moved (pending)"


class PortalAction(models.TextChoices):
    """A key change on its way to Open Dental's Developer Portal (PUT /apikeys)."""

    NONE = "", "None"
    DISABLE = "disable", "Disabling at Open Dental…"
    ENABLE = "enable", "Enabling at Open Dental…"


class CustomerKey(models.Model):
    """An office's customer key: encrypted, shown only as last-4, disabled but never deleted."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    office = models.ForeignKey(Office, on_delete=models.PROTECT, related_name="keys")
    key_encrypted = models.TextField()
    last4 = models.CharField(max_length=4)
    key_hash = models.CharField(max_length=64, unique=True)
    # The office's current key; rotation and moves retire the old one (is_current=False).
    is_current = models.BooleanField(default=True)
    status = models.CharField(max_length=30, choices=KeyStatus.choices, default=KeyStatus.ENABLED)
    pending_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    enabled_at = models.DateTimeField(null=True, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # A disable or enable sent to the Developer Portal: pending until Open Dental confirms; the
    # key's own status changes only then. ``portal_error`` holds Open Dental's reason when it
    # refused (or, while pending, why the last attempt will be retried).
    portal_action = models.CharField(
        max_length=10, choices=PortalAction.choices, default=PortalAction.NONE, blank=True
    )
    portal_requested_at = models.DateTimeField(null=True, blank=True)
    portal_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    portal_reason = models.CharField(max_length=300, blank=True)
    portal_error = models.TextField(blank=True)
    # Generated by odportal through the Developer Portal (POST /apikeys): its onboarding page
    # may show it in full to owners and operators until the first successful poll with it.
    generated = models.BooleanField(default=False)
    # What the Developer Portal last reported for the key (its KeyStatus) and when.
    portal_status = models.CharField(max_length=30, blank=True)
    portal_checked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-is_current", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["office"], condition=Q(is_current=True), name="customerkey_one_current"
            ),
            models.CheckConstraint(
                condition=~Q(status="pending_move") | Q(pending_until__isnull=False),
                name="customerkey_pending_has_deadline",
            ),
        ]
        # The office list's search by key last-4 reads the current keys ending so.
        indexes = [
            models.Index(
                fields=["last4"], condition=Q(is_current=True), name="customerkey_current_last4"
            ),
        ]

    def __str__(self) -> str:
        return f"…{self.last4} ({self.get_status_display()})"

    @property
    def masked(self) -> str:
        return f"••••••••••••{self.last4}"

    def effective_status(self, now=None) -> str:
        """A moved key counts as enabled once Open Dental's 15-minute propagation has passed."""
        now = now or timezone.now()
        if (
            self.status == KeyStatus.PENDING_MOVE
            and self.pending_until
            and now >= self.pending_until
        ):
            return KeyStatus.ENABLED
        return self.status

    def move_deadline(self, now=None):
        return (now or timezone.now()) + timedelta(minutes=settings.KEY_MOVE_PENDING_MINUTES)


def current_key_last4() -> models.Subquery:
    """The office's current key's last-4, as an annotation (``key_last4``) of office rows."""
    current = CustomerKey.objects.filter(office=models.OuterRef("pk"), is_current=True)
    return models.Subquery(current.order_by().values("last4")[:1])


class PollKind(models.TextChoices):
    HEALTH = "health", "Health"
    AGING = "aging", "Aging refresh"
    AGING_AS_OF = "aging_as_of", "Aging as of a date"


class RunOutcome(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    OK = "ok", "OK"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"


# A run still to finish: at most one per office and kind (the claim, see PollRun.Meta).
ACTIVE_OUTCOMES = (RunOutcome.QUEUED, RunOutcome.RUNNING)


class PollRun(models.Model):
    """One poll of one office: what was asked, what happened, how much it cost."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    office = models.ForeignKey(Office, on_delete=models.CASCADE, related_name="runs")
    kind = models.CharField(max_length=20, choices=PollKind.choices)
    outcome = models.CharField(max_length=10, choices=RunOutcome.choices, default=RunOutcome.QUEUED)
    queued_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    requests = models.PositiveIntegerField(default=0)
    rows = models.PositiveIntegerField(default=0)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # The Celery task id holding the claim: the same task, retried or redelivered after its
    # worker died, may take its own claim back at once instead of waiting for it to go stale.
    claimed_by = models.CharField(max_length=64, blank=True)
    as_of = models.DateField(null=True, blank=True)
    clinic_num = models.PositiveIntegerField(null=True, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-queued_at", "-id"]
        indexes = [
            models.Index(fields=["office", "kind", "-queued_at"]),
            # The history pruner scans by age.
            models.Index(fields=["queued_at"], name="pollrun_queued_at"),
        ]
        constraints = [
            # One unfinished run per office and kind: this row is the claim.
            models.UniqueConstraint(
                fields=["office", "kind"],
                condition=Q(outcome__in=["queued", "running"]),
                name="pollrun_one_active_per_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.office} {self.kind} {self.outcome}"

    @property
    def is_active(self) -> bool:
        return self.outcome in ACTIVE_OUTCOMES

    @property
    def duration_s(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class SnapshotSource(models.TextChoices):
    SHORT_QUERY = "short_query", "ShortQuery on the patient table"
    REPORTS_AGING = "reports_aging", "GET /reports/Aging (no Queries permission)"
    REPORTS_AGING_AS_OF = "reports_aging_as_of", "GET /reports/Aging as of a date"


class SnapshotState(models.TextChoices):
    BUILDING = "building", "Building"
    COMPLETE = "complete", "Complete"
    FAILED = "failed", "Failed"


class AgingSnapshot(models.Model):
    """One complete (or in-progress) copy of an office's A/R aging; rows hang off it."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    office = models.ForeignKey(Office, on_delete=models.CASCADE, related_name="snapshots")
    run = models.ForeignKey(PollRun, null=True, blank=True, on_delete=models.SET_NULL)
    source = models.CharField(max_length=30, choices=SnapshotSource.choices)
    state = models.CharField(
        max_length=10, choices=SnapshotState.choices, default=SnapshotState.BUILDING
    )
    as_of = models.DateField()
    is_as_of_request = models.BooleanField(default=False)
    clinic_num = models.PositiveIntegerField(null=True, blank=True)
    fetched_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)
    guarantor_count = models.PositiveIntegerField(default=0)
    bal_0_30 = _money()
    bal_31_60 = _money()
    bal_61_90 = _money()
    bal_over_90 = _money()
    ins_est = _money()
    bal_total = _money()
    clinic_totals = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-fetched_at"]
        indexes = [models.Index(fields=["office", "state", "-fetched_at"])]
        constraints = [
            models.UniqueConstraint(fields=["run"], name="agingsnapshot_one_per_run"),
        ]

    def __str__(self) -> str:
        return f"{self.office} aging as of {self.as_of} ({self.state})"


class AgingRow(models.Model):
    """One guarantor's aging in a snapshot."""

    # No database-level foreign key: each batch of rows would pay for checking it at commit
    # (a large share of ingest time, docs/benchmarks.md). Rows are only written into a
    # snapshot that exists, and Django still deletes them with their snapshot (CASCADE is done
    # by the ORM either way).
    snapshot = models.ForeignKey(
        AgingSnapshot, on_delete=models.CASCADE, related_name="rows", db_constraint=False
    )
    # Open Dental's keys are 64-bit.
    pat_num = models.PositiveBigIntegerField()
    clinic_num = models.PositiveBigIntegerField(default=0)
    name = models.CharField(max_length=200, blank=True)
    est_balance = _money()
    bal_0_30 = _money()
    bal_31_60 = _money()
    bal_61_90 = _money()
    bal_over_90 = _money()
    ins_est = _money()
    bal_total = _money()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["snapshot", "pat_num"], name="agingrow_unique_guarantor"
            ),
        ]
        # The report's sorts, with the pat_num tie-break, so a page (and its keyset cursor) is
        # an index range read in order, never a sort of every guarantor.
        indexes = [
            models.Index(
                fields=["snapshot", "bal_over_90", "pat_num"], name="agingrow_snap_over90"
            ),
            models.Index(fields=["snapshot", "bal_total", "pat_num"], name="agingrow_snap_total"),
            # One clinic's page by total (the default sort); its prefix serves clinic filters.
            models.Index(
                fields=["snapshot", "clinic_num", "bal_total", "pat_num"],
                name="agingrow_snap_clinic_total",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.pat_num}: {self.bal_total}"


class JobState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class BackgroundJob(models.Model):
    """What every background job (an office import, a bulk action) carries: its state and the
    claim a worker holds on it (``services/jobs.py``)."""

    state = models.CharField(max_length=10, choices=JobState.choices, default=JobState.QUEUED)
    error = models.TextField(blank=True)
    queued_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # The Celery task id holding the claim (a redelivered task takes its own claim back).
    claimed_by = models.CharField(max_length=64, blank=True)

    class Meta:
        abstract = True


class ImportOutcome(models.TextChoices):
    """What happened to one row of an import."""

    CREATED = "created", "Created"
    SKIPPED = "skipped", "Skipped"
    REJECTED = "rejected", "Rejected"


def error_lines(errors: dict[str, list[str]]) -> list[str]:
    """A row's errors as 'field: message' lines (form-wide ones without the field)."""
    return [f"{f}: {m}" if f != "__all__" else m for f, ms in errors.items() for m in ms]


class ImportJob(BackgroundJob):
    """One upload of offices and keys, imported by a worker a chunk of rows at a time.

    The parsed rows wait in ``payload_encrypted`` (they hold customer keys) and are dropped when
    the job ends; each processed row's result is an ImportJobRow, written in the same
    transaction as its chunk and ``processed_rows``, so a resumed job carries on at the first
    row without a result. The unfinished row is the claim, as for poll runs.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    account = models.ForeignKey(
        "accounts.DeveloperAccount", on_delete=models.CASCADE, related_name="import_jobs"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    filename = models.CharField(max_length=200, blank=True)
    format = models.CharField(max_length=10)  # "csv" or "manifest"
    base_url_override = models.TextField(blank=True)
    payload_encrypted = models.TextField(blank=True)
    # Own-server hosts the owner confirmed for this upload (rows to other hosts are rejected).
    confirmed_hosts = models.JSONField(default=list, blank=True)
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-queued_at", "-id"]
        indexes = [models.Index(fields=["account", "-queued_at"], name="importjob_account_recent")]
        constraints = [
            # One unfinished import per account: a double-submitted form cannot race itself.
            models.UniqueConstraint(
                fields=["account"],
                condition=Q(state__in=["queued", "running"]),
                name="importjob_one_active_per_account",
            ),
            models.CheckConstraint(
                condition=Q(processed_rows__lte=models.F("total_rows")),
                name="importjob_processed_within_total",
            ),
        ]

    def __str__(self) -> str:
        return f"import {self.filename or self.public_id} ({self.state})"

    @property
    def is_active(self) -> bool:
        return self.state in (JobState.QUEUED, JobState.RUNNING)

    @property
    def percent(self) -> int:
        """Processed rows as a whole percentage (100 for an empty file)."""
        if not self.total_rows:
            return 100
        return self.processed_rows * 100 // self.total_rows

    @property
    def summary(self) -> str:
        return (
            f"{plural(self.processed_rows, 'row')}: {self.created:,} created, "
            f"{self.skipped:,} skipped, {self.rejected:,} rejected"
        )


class ImportJobRow(models.Model):
    """What happened to one input row of an import; ``key_last4`` is all it keeps of the key."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="rows")
    number = models.PositiveIntegerField()  # the CSV line, or the manifest's office number
    name = models.CharField(max_length=200, blank=True)
    key_last4 = models.CharField(max_length=4, blank=True)
    outcome = models.CharField(max_length=10, choices=ImportOutcome.choices)
    errors = models.JSONField(default=dict, blank=True)
    office_public_id = models.UUIDField(null=True, blank=True)
    host_to_confirm = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["number"]
        constraints = [
            models.UniqueConstraint(fields=["job", "number"], name="importjobrow_unique_number"),
        ]

    def __str__(self) -> str:
        return f"row {self.number}: {self.outcome}"

    @property
    def messages(self) -> list[str]:
        return error_lines(self.errors)


class PortalKey(models.Model):
    """One customer key as the account's Developer Portal lists it (``GET /apikeys``), as of
    the last inventory sync; matched to odportal's keys by keyed hash."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    account = models.ForeignKey(
        "accounts.DeveloperAccount", on_delete=models.CASCADE, related_name="portal_keys"
    )
    key_encrypted = models.TextField()
    last4 = models.CharField(max_length=4)
    key_hash = models.CharField(max_length=64)
    key_status = models.CharField(max_length=30)
    date_created = models.DateField(null=True, blank=True)
    date_disabled = models.DateField(null=True, blank=True)
    date_time_assigned = models.DateTimeField(null=True, blank=True)
    dev_ref_id = models.CharField(max_length=200, blank=True)
    # A vendor's "yes, we know this one" for a key no office tracks (kept across syncs).
    known = models.BooleanField(default=False)
    seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["date_created", "id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "key_hash"], name="portalkey_unique_key"),
        ]

    def __str__(self) -> str:
        return f"…{self.last4} ({self.key_status})"

    @property
    def is_enabled(self) -> bool:
        """Enabled at Open Dental, so billed once assigned."""
        return self.key_status in ("Enabled", "EnabledReadOnly")


class PortalSync(models.Model):
    """When an account's Developer Portal inventory was last read, and how it went."""

    account = models.OneToOneField(
        "accounts.DeveloperAccount", on_delete=models.CASCADE, related_name="portal_sync"
    )
    synced_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"{self.account} synced {self.synced_at}"


class BulkAction(models.TextChoices):
    """What a bulk action on the office list does to each selected office."""

    POLL = "poll", "Poll now"
    AGING = "aging", "Refresh aging"
    PAUSE = "pause", "Pause polling"
    RESUME = "resume", "Resume polling"
    EXPORT = "export", "Export"


class BulkOutcome(models.TextChoices):
    """What happened to one office of a bulk job ("" while it waits)."""

    PENDING = "", "Waiting"
    DONE = "done", "Done"
    SKIPPED = "skipped", "Skipped"
    FAILED = "failed", "Failed"


class BulkJob(BackgroundJob):
    """One bulk action on offices of one account picked on the office list, run by a worker an
    office at a time.

    Each office is a BulkJobItem, its outcome written as it is handled, so a retried or resumed
    job carries on at the first office still waiting. The unfinished row is the claim, as for
    imports (a BackgroundJob too: queued, running, done, failed).
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # One account a job, as for imports: its owners and operators follow it, its audit log
    # holds its one event.
    account = models.ForeignKey(
        "accounts.DeveloperAccount", on_delete=models.CASCADE, related_name="bulk_jobs"
    )
    action = models.CharField(max_length=10, choices=BulkAction.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    # What was picked, in words ("3 selected offices", "all 316 matching status OK").
    selection = models.CharField(max_length=300, blank=True)
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-queued_at", "-id"]
        indexes = [
            models.Index(fields=["account", "-queued_at"], name="bulkjob_account_recent"),
            models.Index(fields=["state", "heartbeat_at"], name="bulkjob_state_heartbeat"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(processed__lte=models.F("total")), name="bulkjob_processed_within_total"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()}: {self.selection} ({self.state})"

    @property
    def is_active(self) -> bool:
        return self.state in (JobState.QUEUED, JobState.RUNNING)

    @property
    def percent(self) -> int:
        """Offices handled as a whole percentage (100 for none)."""
        return self.processed * 100 // self.total if self.total else 100


class BulkJobItem(models.Model):
    """One office of a bulk job: its outcome, why, and (export) its CSV row."""

    job = models.ForeignKey(BulkJob, on_delete=models.CASCADE, related_name="items")
    number = models.PositiveIntegerField()  # the office's place in the list as it was sorted
    office = models.ForeignKey(Office, on_delete=models.CASCADE, related_name="+")
    outcome = models.CharField(max_length=10, choices=BulkOutcome.choices, blank=True)
    message = models.CharField(max_length=300, blank=True)
    row = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["number"]
        constraints = [
            models.UniqueConstraint(fields=["job", "number"], name="bulkjobitem_unique_number"),
            models.UniqueConstraint(fields=["job", "office"], name="bulkjobitem_unique_office"),
        ]

    def __str__(self) -> str:
        return f"{self.job_id}#{self.number}: {self.outcome or 'waiting'}"
