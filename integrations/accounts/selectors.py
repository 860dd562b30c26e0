"""Reads for the developer-account pages, plus the pure text builders they show.

Everything is scoped to the user: views first get the account with ``get_account_for_user``
(404 for other teams) and pass it in to the rest.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.http import Http404
from django.utils import timezone

from integrations.accounts.models import (
    ACTING_ROLES,
    ApiResource,
    AuditEvent,
    DeveloperAccount,
    Invitation,
    Membership,
    RequestedPermission,
    Role,
)


def accounts_for_user(user: AbstractBaseUser) -> QuerySet[DeveloperAccount]:
    """Developer accounts the user is a member of."""
    return DeveloperAccount.objects.filter(membership__user=user).distinct()


def accounts_user_can_act(user: AbstractBaseUser) -> QuerySet[DeveloperAccount]:
    """Accounts where the user is an owner or operator (may add offices and keys)."""
    return DeveloperAccount.objects.filter(
        membership__user=user, membership__role__in=ACTING_ROLES
    ).order_by("company_name")


def get_account_for_user(user: AbstractBaseUser, public_id) -> DeveloperAccount:
    """One account the user belongs to; 404 otherwise."""
    account = accounts_for_user(user).filter(public_id=public_id).first()
    if account is None:
        raise Http404("No such developer account.")
    return account


def owner_emails(account: DeveloperAccount, *, besides=None) -> list[str]:
    """The email addresses of the account's owners (other than ``besides``), those that have one."""
    owners = Membership.objects.filter(account=account, role=Role.OWNER).exclude(user__email="")
    if besides is not None and getattr(besides, "pk", None) is not None:
        owners = owners.exclude(user=besides)
    return sorted(set(owners.values_list("user__email", flat=True)))


VENDOR_RELATIONS_EMAIL = "vendor.relations@opendental.com"
PORTAL_URL = "https://api.opendental.com/portal/gwt/fhirportal.html"
PERMISSION_FLAGS = ("read", "create", "update")


# --- accounts --------------------------------------------------------------------------------


def accounts_list_for_user(user: AbstractBaseUser) -> QuerySet[DeveloperAccount]:
    """The user's accounts with their office count and the user's own role (one query)."""
    my_role = Membership.objects.filter(account=OuterRef("pk"), user=user).values("role")[:1]
    return (
        DeveloperAccount.objects.filter(membership__user=user)
        .annotate(
            office_count=Count("offices", distinct=True),
            my_role=Subquery(my_role),
        )
        .order_by("company_name")
    )


def account_members(account: DeveloperAccount) -> QuerySet[Membership]:
    """Members of the account with their user, owners first."""
    return (
        Membership.objects.filter(account=account)
        .select_related("user")
        .order_by("role", "user__username")
    )


def account_open_invitations(account: DeveloperAccount) -> QuerySet[Invitation]:
    """Invitations of the account still waiting for an answer, newest first."""
    return (
        Invitation.objects.filter(
            account=account, accepted_at=None, revoked_at=None, expires_at__gt=timezone.now()
        )
        .select_related("invited_by")
        .order_by("-created_at")
    )


def account_office_count(account: DeveloperAccount) -> int:
    """How many offices the account has."""
    return account.offices.count()


# --- requested permissions -------------------------------------------------------------------


@dataclass(frozen=True)
class PermissionRow:
    """One resource of the requested-permissions matrix."""

    resource: str
    label: str
    read: bool
    create: bool
    update: bool

    @property
    def any(self) -> bool:
        return self.read or self.create or self.update

    @property
    def needs(self) -> str:
        """The needs in words, e.g. 'read, update'."""
        words = [f for f in PERMISSION_FLAGS if getattr(self, f)]
        return ", ".join(words) or "none"


def permission_matrix(account: DeveloperAccount) -> list[PermissionRow]:
    """Every Open Dental resource with the account's requested read/create/update flags."""
    saved = {p.resource: p for p in RequestedPermission.objects.filter(account=account)}
    rows = []
    for value, label in ApiResource.choices:
        p = saved.get(value)
        rows.append(
            PermissionRow(
                resource=value,
                label=label,
                read=bool(p and p.can_read),
                create=bool(p and p.can_create),
                update=bool(p and p.can_update),
            )
        )
    return rows


# --- portal access request -------------------------------------------------------------------


def mysql_string_literal(value: str) -> str:
    """Quote text as a MySQL string expression for Open Dental's query window.

    Single quotes are doubled and backslashes escaped (MySQL's default sql_mode treats ``\\`` as
    an escape). ASCII control characters never go inside the literal: Open Dental advises
    against NUL bytes and ``\\0`` escapes in SQL, so each becomes ``CHAR(n)`` joined with
    ``CONCAT``. Other Unicode text is kept as is.
    """
    parts: list[str] = []
    chunk: list[str] = []
    for ch in value:
        if ord(ch) < 32 or ord(ch) == 127:
            if chunk:
                parts.append(_quote_chunk("".join(chunk)))
                chunk = []
            parts.append(f"CHAR({ord(ch)})")
        else:
            chunk.append(ch)
    if chunk or not parts:
        parts.append(_quote_chunk("".join(chunk)))
    return parts[0] if len(parts) == 1 else f"CONCAT({', '.join(parts)})"


def _quote_chunk(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def apikey_lookup_sql(dev_name: str) -> str:
    """The query an office runs to find the customer key it was given for this developer."""
    # Text for a human to paste into Open Dental, never run here; the name is quoted above.
    return f"SELECT CustApiKey FROM apikey WHERE DevName={mysql_string_literal(dev_name)};"  # noqa: S608


@dataclass(frozen=True)
class PortalRequest:
    """The email asking Open Dental's vendor relations for Developer Portal access."""

    to: str
    subject: str
    body: str

    @property
    def mailto(self) -> str:
        """A ``mailto:`` URL with subject and body percent-encoded (RFC 6068, CRLF breaks)."""
        body = self.body.replace("\r\n", "\n").replace("\n", "\r\n")
        return (
            f"mailto:{self.to}?subject={quote(self.subject, safe='')}&body={quote(body, safe='')}"
        )


def portal_request_email(
    account: DeveloperAccount, rows: list[PermissionRow] | None = None
) -> PortalRequest:
    """Build the access-request email from the account details and its permission matrix."""
    rows = permission_matrix(account) if rows is None else rows
    wanted = [r for r in rows if r.any]
    third_party = account.third_party_developer_name or "none"
    if account.third_party_developer_email:
        third_party += f" <{account.third_party_developer_email}>"
    lines = [
        "Hello Open Dental vendor relations,",
        "",
        "We would like access to the Open Dental API Developer Portal. Our details:",
        "",
        f"Company / product owner: {account.company_name}",
        f"Contact phone: {account.contact_phone}",
        f"Long-term billing email: {account.billing_email}",
        "Long-term billing mailing address:",
        *[f"  {line}" for line in account.billing_address.splitlines() or [""]],
        f"3rd-party developer: {third_party}",
        f"Developer name for the portal: {account.dev_name}",
        "Description of the application:",
        *[f"  {line}" for line in account.app_description.splitlines() or [""]],
        "",
        "API resources and the access we need (read / create / update):",
    ]
    lines += [f"- {r.resource}: {r.needs}" for r in wanted] or ["- (none selected yet)"]
    lines += ["", "Thank you,", account.company_name]
    return PortalRequest(
        to=VENDOR_RELATIONS_EMAIL,
        subject=f"Developer Portal access request: {account.company_name}",
        body="\n".join(lines),
    )


# --- audit log -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditFilters:
    """Filters of the audit log page and its CSV export."""

    action: str = ""
    actor: str = ""
    object_type: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    q: str = ""


def audit_events(account: DeveloperAccount, filters: AuditFilters) -> QuerySet[AuditEvent]:
    """The account's audit events, newest first, narrowed by the filters."""
    qs = AuditEvent.objects.filter(account=account).select_related("actor")
    if filters.action:
        qs = qs.filter(action=filters.action)
    if filters.actor == "system":
        qs = qs.filter(actor__isnull=True)
    elif filters.actor:
        qs = qs.filter(actor__username=filters.actor)
    if filters.object_type:
        qs = qs.filter(object_type=filters.object_type)
    if filters.date_from:
        qs = qs.filter(created_at__date__gte=filters.date_from)
    if filters.date_to:
        qs = qs.filter(created_at__date__lte=filters.date_to)
    if filters.q:
        qs = qs.filter(search_text__contains=filters.q.casefold())
    return qs.order_by("-created_at", "-id")


AUDIT_CSV_COLUMNS = ("time_utc", "actor", "action", "object_type", "object_id", "object", "detail")
# Every column but the time is text someone typed (a username, an office name, details):
# neutralised against spreadsheet formulas.
AUDIT_CSV_TEXT_COLUMNS = AUDIT_CSV_COLUMNS[1:]


def audit_csv_rows(events: QuerySet[AuditEvent]) -> Iterator[list[str]]:
    """The events as rows of AUDIT_CSV_COLUMNS, streamed in chunks."""
    for event in events.iterator(chunk_size=500):
        yield [
            event.created_at.isoformat(),
            event.actor.get_username() if event.actor else "system",
            event.action,
            event.object_type,
            event.object_id,
            event.object_repr,
            json.dumps(event.detail, ensure_ascii=False, sort_keys=True),
        ]


def audit_filter_choices(account: DeveloperAccount) -> dict[str, list[str]]:
    """Distinct actions, actor usernames and object types seen in the account's log."""
    events = AuditEvent.objects.filter(account=account)
    user_model = get_user_model()
    actor_ids = events.exclude(actor=None).values("actor_id").distinct()
    return {
        "actions": sorted(set(events.values_list("action", flat=True))),
        "object_types": sorted(set(events.values_list("object_type", flat=True))),
        "actors": sorted(
            user_model.objects.filter(pk__in=actor_ids).values_list("username", flat=True)
        ),
    }
