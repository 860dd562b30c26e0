"""Reads for pages, always scoped to the user's developer accounts."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.db.models import (
    BooleanField,
    Case,
    Count,
    DateTimeField,
    DecimalField,
    ExpressionWrapper,
    F,
    Func,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.http import Http404
from django.utils import timezone

from integrations.accounts.models import ACTING_ROLES, Membership
from integrations.offices.exports import office_csv_row
from integrations.offices.models import (
    ACTIVE_OUTCOMES,
    AGING_BUCKETS,
    OFFICE_AGING_FIELDS,
    PROBLEM_STATUSES,
    BulkJob,
    BulkJobItem,
    BulkOutcome,
    Clinic,
    CustomerKey,
    KeyStatus,
    Office,
    OfficeStatus,
    OfficeStatusChange,
    PollRun,
    current_key_last4,
    office_severity,
)
from odportal.lib.durations import seconds_column


def user_offices(user: AbstractBaseUser) -> QuerySet[Office]:
    """Offices of the user's accounts: a semi-join on the memberships (no join that fans out
    and no developer-account join under every office row)."""
    accounts = Membership.objects.filter(user=user).values("account_id")
    return Office.objects.filter(account_id__in=accounts)


def offices_for_user(user: AbstractBaseUser) -> QuerySet[Office]:
    """Offices of the user's accounts, with the current key prefetched for last-4 display."""
    current_keys = CustomerKey.objects.filter(is_current=True)
    return (
        user_offices(user)
        .select_related("account")
        .prefetch_related(Prefetch("keys", queryset=current_keys, to_attr="current_keys"))
    )


def get_office_for_user(user: AbstractBaseUser, public_id) -> Office:
    """One office of the user's accounts; 404 for anything else (no existence leak)."""
    office = offices_for_user(user).filter(public_id=public_id).first()
    if office is None:
        raise Http404("No such office.")
    return office


# --- Office health: attention, list, overview -------------------------------------------------

# Who must act, per status: what support staff tell the caller.
WHO_ACTS = {
    OfficeStatus.KEY_REJECTED: "The vendor or the office: re-enable or replace the customer key",
    OfficeStatus.KEY_DISABLED: "The vendor or the office: re-enable the customer key",
    OfficeStatus.PERMISSION_MISSING: "The vendor: request the permission from Open Dental",
    OfficeStatus.ECONNECTOR_DOWN: "The office's IT: restart the eConnector",
    OfficeStatus.THROTTLED: "Open Dental: wait, the next poll retries",
    OfficeStatus.TIMED_OUT: "Open Dental / network: the next poll retries",
    OfficeStatus.OD_ERROR: "Open Dental: the next poll retries",
    OfficeStatus.UNREACHABLE: "The vendor: check the base URL and network, then retry",
    OfficeStatus.NO_KEY: "The vendor: add or move a customer key to this office",
    OfficeStatus.NEVER_POLLED: "The vendor: add a key and wait for the first poll",
    OfficeStatus.OK: "",
}
# For "Key disabled": who disabled it, as Open Dental reported, says who must act.
KEY_WHO_ACTS = {
    KeyStatus.DISABLED_BY_CUSTOMER: (
        "The office: re-enable the key in Open Dental (Setup > Advanced Setup > API, tick Enabled)"
    ),
    KeyStatus.DISABLED_BY_HQ: "Open Dental HQ disabled the key: the vendor asks their support",
    KeyStatus.DISABLED_BY_DEVELOPER: "The vendor: enable the key, or add a new one",
}


def who_acts(status: str, key_status: str | None = None) -> str:
    """Who must act on an office's status, by the current key's status where that decides."""
    if status == OfficeStatus.KEY_DISABLED and key_status in KEY_WHO_ACTS:
        return KEY_WHO_ACTS[KeyStatus(key_status)]
    return WHO_ACTS.get(status, "")


STALE_WHO_ACTS = "The vendor: check that workers run and polling is on"


def _stale_cutoff_expr():
    """now - 2 x the office's health interval, as a database expression."""
    two_intervals = seconds_column("health_interval_s", 2)
    return ExpressionWrapper(Value(timezone.now()) - two_intervals, output_field=DateTimeField())


def stale_q() -> Q:
    """Offices whose last success is older than twice their health interval."""
    return Q(last_success_at__isnull=False, last_success_at__lt=_stale_cutoff_expr())


def attention_q() -> Q:
    """Offices that need someone to act: a problem status, stale data, or never polled."""
    return Q(status__in=PROBLEM_STATUSES) | stale_q() | Q(status=OfficeStatus.NEVER_POLLED)


def _key_status() -> Subquery:
    current = CustomerKey.objects.filter(office=OuterRef("pk"), is_current=True).order_by()
    return Subquery(current.values("status")[:1])


def _base_office_list(user: AbstractBaseUser) -> QuerySet[Office]:
    return user_offices(user).select_related("account").annotate(key_last4=current_key_last4())


OFFICE_SORTS = {
    "name": ("name", "id"),
    "account": ("account__company_name", "name", "id"),
    "status": ("status", "name", "id"),
    "since": ("status_since", "id"),
    "last_success": ("last_success_at", "id"),
    "mode": ("api_mode", "name", "id"),
    "version": ("program_version", "name", "id"),
    "gap": ("perm_gap", "name", "id"),
    "aging": ("aging_total", "id"),
    "over90": ("over90_share", "aging_total", "id"),
}


@dataclass(frozen=True)
class OfficeFilters:
    """The office list's query string, validated."""

    q: str = ""
    status: str = ""
    account: str = ""
    mode: str = ""
    sort: str = "name"
    desc: bool = False


# "…1234", "...1234" and "1234" all ask for the key ending 1234.
_KEY_MARKS = "…. *"


def search_q(text: str) -> Q:
    """The list's search: name, reference, server host or version contain ``text``, or the
    current key ends with it (last-4, exact: the key column is an index read, not a scan)."""
    found = (
        Q(name__icontains=text)
        | Q(reference__icontains=text)
        | Q(base_url__icontains=text)
        | Q(program_version__icontains=text)
    )
    last4 = text.lstrip(_KEY_MARKS)
    if len(last4) == 4 and last4.isalnum():
        keys = CustomerKey.objects.filter(is_current=True, last4=last4).values("office_id")
        found |= Q(pk__in=keys)
    return found


def office_list(user: AbstractBaseUser, filters: OfficeFilters) -> QuerySet[Office]:
    """The office table: filtered, sorted, with key last-4 and 90+ share; no per-row queries."""
    qs = _base_office_list(user)
    if filters.q:
        qs = qs.filter(search_q(filters.q))
    if filters.status == "attention":
        qs = qs.filter(attention_q())
    elif filters.status == "stale":
        qs = qs.filter(stale_q())
    elif filters.status:
        qs = qs.filter(status=filters.status)
    if filters.account:
        qs = qs.filter(account__public_id=filters.account)
    if filters.mode:
        qs = qs.filter(api_mode=filters.mode)
    if filters.sort == "over90":
        qs = qs.annotate(
            over90_share=Case(
                When(aging_total=0, then=Value(None)),
                default=F("aging_over_90") * 100 / F("aging_total"),
                output_field=DecimalField(max_digits=20, decimal_places=4),
            )
        )
    if filters.sort == "gap":
        qs = qs.annotate(perm_gap=_json_length("missing_permissions"))
    fields = OFFICE_SORTS.get(filters.sort, OFFICE_SORTS["name"])
    return qs.order_by(*((f"-{f}" if filters.desc else f) for f in fields))


def _json_length(field: str) -> Func:
    if connection.vendor == "postgresql":
        return Func(F(field), function="jsonb_array_length", output_field=IntegerField())
    return Func(F(field), function="json_array_length", output_field=IntegerField())


def active_runs_by_office(office_ids: list[int]) -> dict[int, PollRun]:
    """The queued/running run of each office (one query); health preferred over aging."""
    runs = PollRun.objects.filter(office_id__in=office_ids, outcome__in=ACTIVE_OUTCOMES)
    found: dict[int, PollRun] = {}
    for run in runs.order_by("kind"):
        found.setdefault(run.office_id, run)
    return found


@dataclass(frozen=True)
class OverviewSummary:
    """The overview's figures: offices per status, how many need attention, receivables."""

    status_counts: list[dict[str, Any]]
    attention_total: int
    totals: dict[str, Any]


def overview_summary(user: AbstractBaseUser) -> OverviewSummary:
    """Counts per status, the attention count and the receivables: one row from one pass over
    the offices (conditional aggregates, no GROUP BY sort), the totals from the columns each
    office copies from its current snapshot (no join to the snapshots)."""
    always = [*PROBLEM_STATUSES, OfficeStatus.NEVER_POLLED]
    row = user_offices(user).aggregate(
        **{f"n_{value}": Count("id", filter=Q(status=value)) for value in OfficeStatus.values},
        attention=Count("id", filter=Q(status__in=always) | stale_q()),
        snapshots=Count("current_snapshot"),
        **{b: Sum(field) for field, b in OFFICE_AGING_FIELDS.items()},
    )
    counts = [
        {"status": value, "label": label, "count": row[f"n_{value}"]}
        for value, label in OfficeStatus.choices
    ]
    totals: dict[str, Any] = {"offices": row["snapshots"]}
    totals.update({b: row[b] or Decimal("0") for b in AGING_BUCKETS})
    return OverviewSummary(status_counts=counts, attention_total=row["attention"], totals=totals)


def offices_needing_attention(user: AbstractBaseUser, *, limit: int = 50) -> list[Office]:
    """Offices with problems, worst first then oldest problem first, with who must act."""
    offices = list(
        _base_office_list(user)
        .filter(attention_q())
        .annotate(
            key_status=_key_status(),
            severity=office_severity(),  # leads the office_attention_order index
            is_stale=Case(
                When(stale_q(), then=Value(True)),
                default=Value(False),
                output_field=BooleanField(),
            ),
        )
        .order_by("severity", F("status_since").asc(nulls_last=True), "name")[:limit]
    )
    for office in offices:
        office.who_acts = who_acts(office.status, office.key_status)
        if office.status == OfficeStatus.OK and office.is_stale:
            office.who_acts = STALE_WHO_ACTS
    return offices


# --- Office detail ----------------------------------------------------------------------------


def office_spare_enabled_keys(office: Office) -> list[CustomerKey]:
    """The office's keys still enabled (so valid and billed at Open Dental) but not current."""
    return list(office.keys.filter(is_current=False, status=KeyStatus.ENABLED))


def office_keys(office: Office) -> list[CustomerKey]:
    """All keys of an office (current first), with who created and changed them."""
    return list(office.keys.select_related("created_by", "changed_by"))


def get_key_for_office(office: Office, public_id) -> CustomerKey:
    """One key of the office; 404 otherwise."""
    key = office.keys.select_related("office__account").filter(public_id=public_id).first()
    if key is None:
        raise Http404("No such key.")
    return key


def office_recent_runs(office: Office, *, limit: int = 20) -> list[PollRun]:
    """The office's most recent poll runs."""
    return list(office.runs.select_related("requested_by")[:limit])


def office_clinics(office: Office) -> list[Clinic]:
    """The office's clinics."""
    return list(office.clinics.all())


def other_offices_of_account(office: Office) -> QuerySet[Office]:
    """Where a key of this office may move: the account's other offices."""
    return (
        Office.objects.filter(account_id=office.account_id).exclude(pk=office.pk).order_by("name")
    )


MOVE_CHOICES_SHOWN = 25


def move_target_choices(office: Office, q: str = "", selected=None) -> tuple[list[Office], int]:
    """A page of the offices a key may move to, by name or reference, with how many match.

    An account can hold thousands of offices, so the move form shows a searchable handful
    rather than one huge dropdown; the one already picked stays listed (first) whatever the
    search.
    """
    qs = other_offices_of_account(office)
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(reference__icontains=q))
    shown = list(qs.only("public_id", "name", "reference")[:MOVE_CHOICES_SHOWN])
    total = len(shown) if len(shown) < MOVE_CHOICES_SHOWN else qs.count()
    if selected is not None and selected.pk not in {o.pk for o in shown}:
        shown.insert(0, selected)
    return shown, total


def get_run_for_user(user: AbstractBaseUser, public_id) -> PollRun:
    """One poll run of the user's offices; 404 otherwise."""
    run = (
        PollRun.objects.filter(office__account__membership__user=user, public_id=public_id)
        .select_related("office")
        .first()
    )
    if run is None:
        raise Http404("No such run.")
    return run


def office_active_run(office: Office, kind: str | None = None) -> PollRun | None:
    """The office's queued or running run (of one kind, if given)."""
    runs = office.runs.filter(outcome__in=ACTIVE_OUTCOMES)
    if kind:
        runs = runs.filter(kind=kind)
    return runs.first()


def office_status_changes(office: Office, limit: int = 20) -> list[OfficeStatusChange]:
    """The office's latest status changes, newest first (its health history)."""
    return list(OfficeStatusChange.objects.filter(office=office)[:limit])


# --- Onboarding of a generated key ----------------------------------------------------------


@dataclass(frozen=True)
class OnboardingStep:
    """One thing the office's IT does, and what polling has seen of it."""

    label: str
    how: str
    state: str  # "done", "waiting" or "problem"
    seen: str


def onboarding_steps(office: Office, key: CustomerKey) -> list[OnboardingStep]:
    """The office's onboarding as polling sees it since ``key`` was created."""
    polled = office.last_polled_at is not None and office.last_polled_at >= key.created_at
    ok = office.last_success_at is not None and office.last_success_at >= key.created_at
    rejected = polled and office.status in (OfficeStatus.KEY_REJECTED, OfficeStatus.KEY_DISABLED)
    down = polled and office.status == OfficeStatus.ECONNECTOR_DOWN
    missing = office.missing_permissions if ok else []
    not_yet = "Not polled with this key yet" if not polled else "Waiting for a successful poll"
    return [
        OnboardingStep(
            "Key accepted",
            "In Open Dental: Setup > Advanced Setup > API > Add Key, paste the key, tick Enabled.",
            "done" if ok or down else "problem" if rejected else "waiting",
            "Open Dental accepts the key"
            if ok or down
            else office.last_error
            if rejected
            else not_yet,
        ),
        OnboardingStep(
            "eConnector answering",
            "Keep the eConnector service running on the office's server.",
            "done" if ok else "problem" if down else "waiting",
            "The office answers through its eConnector"
            if ok
            else office.last_error
            if down
            else not_yet,
        ),
        OnboardingStep(
            "Permissions granted",
            "Nothing to do at the office: Open Dental grants what the vendor requested.",
            "problem" if missing else "done" if ok else "waiting",
            f"Missing: {', '.join(missing)}"
            if missing
            else "Every requested permission"
            if ok
            else not_yet,
        ),
    ]


def onboarding_key(office: Office) -> CustomerKey | None:
    """The generated current key the onboarding page is about, if any."""
    return office.keys.filter(is_current=True, generated=True).first()


# --- The office list as CSV -------------------------------------------------------------------


def office_csv_rows(offices: QuerySet[Office]):
    """The rows of ``office_list`` (its filter and sort) as CSV rows, read in chunks."""
    return (office_csv_row(o) for o in offices.iterator(chunk_size=2000))


# --- Bulk jobs --------------------------------------------------------------------------------


def get_bulk_job_for_user(user: AbstractBaseUser, public_id) -> BulkJob:
    """One bulk job of the user's accounts; 404 for anything else (no existence leak)."""
    jobs = BulkJob.objects.select_related("account", "requested_by")
    job = jobs.filter(account__membership__user=user, public_id=public_id).first()
    if job is None:
        raise Http404("No such job.")
    return job


BULK_ITEMS_SHOWN = 200


def bulk_job_problems(job: BulkJob) -> list[BulkJobItem]:
    """The job's offices that were skipped or failed, with why (the first BULK_ITEMS_SHOWN)."""
    items = job.items.filter(outcome__in=[BulkOutcome.SKIPPED, BulkOutcome.FAILED])
    return list(items.select_related("office").order_by("number")[:BULK_ITEMS_SHOWN])


def bulk_job_csv_rows(job: BulkJob):
    """An export job's CSV rows, in the list's order as it was sorted."""
    items = job.items.filter(outcome=BulkOutcome.DONE).order_by("number")
    return (row for row in items.values_list("row", flat=True).iterator(chunk_size=2000))


def bulk_offices(
    user: AbstractBaseUser, filters: OfficeFilters, picked: list, *, everything: bool
) -> QuerySet[Office]:
    """What a bulk action acts on, in the list's order: the ticked offices (or all that the
    filter matches) of the accounts where the user is an owner or operator."""
    actable = Membership.objects.filter(user=user, role__in=ACTING_ROLES).values("account_id")
    offices = office_list(user, filters).filter(account_id__in=actable)
    return offices if everything else offices.filter(public_id__in=picked)
