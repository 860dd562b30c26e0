"""Developer-account pages: details, permissions, portal request, audit, members, import.

Views stay thin: ``reads.get_account_for_user`` scopes (404 for other teams), ``access``
decides who may change things (403), services write, ``selectors_accounts`` reads.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from integrations.accounts import access
from integrations.accounts import selectors as reads
from integrations.accounts.forms import (
    SECRET_FIELDS,
    AuditFilterForm,
    DeveloperAccountForm,
    InvitationForm,
    InvitationSignupForm,
    MemberRoleForm,
    PermissionsForm,
)
from integrations.accounts.models import (
    ACTING_ROLES,
    DeveloperAccount,
    Invitation,
    Membership,
    PortalAccess,
    Role,
)
from integrations.accounts.services import accounts as account_services
from integrations.accounts.services import invitations as invitation_services
from odportal.lib.csv import csv_download, download_name
from odportal.lib.forms import posted, service_errors_to_form
from odportal.lib.htmx import render_page

AUDIT_PAGE_SIZE = 50
T = "accounts/"


def account_page_context(
    request: HttpRequest, account: DeveloperAccount, tab: str, **extra
) -> dict:
    """What every account page shows: the account, the user's role and the active tab."""
    role = access.role_in(request, account)
    return {
        "account": account,
        "role": role,
        "can_act": role in ACTING_ROLES,
        "is_owner": role == Role.OWNER,
        "tab": tab,
        **extra,
    }


@require_GET
def account_list(request: HttpRequest) -> HttpResponse:
    """The user's developer accounts."""
    accounts = reads.accounts_list_for_user(request.user)
    return render(request, T + "list.html", {"accounts": accounts})


@require_http_methods(["GET", "POST"])
@sensitive_post_parameters(*SECRET_FIELDS)
def account_create(request: HttpRequest) -> HttpResponse:
    """Create a developer account; the creator becomes its owner."""
    form = DeveloperAccountForm(posted(request))
    if request.method == "POST" and form.is_valid():
        try:
            account = account_services.developer_account_create(
                actor=request.user, **form.service_kwargs()
            )
        except ValidationError as exc:
            service_errors_to_form(form, exc)
        else:
            messages.success(request, f"Created {account.company_name}. You are its owner.")
            return redirect("account_detail", account.public_id)
    return render(request, T + "form.html", {"form": form, "account": None})


@require_GET
def account_detail(request: HttpRequest, public_id) -> HttpResponse:
    """Summary of one account: details, key last-4s, offices count, members."""
    account = reads.get_account_for_user(request.user, public_id)
    ctx = account_page_context(
        request,
        account,
        "detail",
        office_count=reads.account_office_count(account),
        members=reads.account_members(account),
    )
    return render(request, T + "detail.html", ctx)


@require_http_methods(["GET", "POST"])
@sensitive_post_parameters(*SECRET_FIELDS)
def account_edit(request: HttpRequest, public_id) -> HttpResponse:
    """Edit account details; keys (write-only) only for owners."""
    account = reads.get_account_for_user(request.user, public_id)
    access.require_actor(request, account)
    owner = access.role_in(request, account) == Role.OWNER
    form = DeveloperAccountForm(posted(request), account=account, owner=owner)
    if request.method == "POST" and form.is_valid():
        try:
            account_services.developer_account_update(
                account=account, actor=request.user, **form.service_kwargs()
            )
        except ValidationError as exc:
            service_errors_to_form(form, exc)
            account.refresh_from_db()
        else:
            messages.success(request, "Account details saved.")
            return redirect("account_detail", account.public_id)
    return render(
        request, T + "form.html", account_page_context(request, account, "edit", form=form)
    )


@require_http_methods(["GET", "POST"])
def account_permissions(request: HttpRequest, public_id) -> HttpResponse:
    """The requested-permissions matrix (resources x read/create/update)."""
    account = reads.get_account_for_user(request.user, public_id)
    if request.method == "POST":
        access.require_actor(request, account)
    rows = reads.permission_matrix(account)
    form = PermissionsForm(posted(request), rows=rows)
    if request.method == "POST" and form.is_valid():
        try:
            account_services.requested_permissions_set(
                account=account, actor=request.user, matrix=form.matrix()
            )
        except ValidationError as exc:
            service_errors_to_form(form, exc)
        else:
            messages.success(request, "Requested permissions saved.")
            return redirect("account_permissions", account.public_id)
    return render(
        request, T + "permissions.html", account_page_context(request, account, "perms", form=form)
    )


@require_http_methods(["GET", "POST"])
def account_portal_request(request: HttpRequest, public_id) -> HttpResponse:
    """The email to Open Dental asking for portal access; POST marks it as requested."""
    account = reads.get_account_for_user(request.user, public_id)
    if request.method == "POST":
        access.require_actor(request, account)
        account_services.developer_account_update(
            account=account, actor=request.user, portal_access=PortalAccess.REQUESTED
        )
        messages.success(request, "Marked as requested.")
        return redirect("account_portal_request", account.public_id)
    rows = reads.permission_matrix(account)
    ctx = account_page_context(
        request,
        account,
        "portal",
        email=reads.portal_request_email(account, rows),
        wanted=[r for r in rows if r.any],
        lookup_sql=reads.apikey_lookup_sql(account.dev_name),
        portal_url=reads.PORTAL_URL,
    )
    return render(request, T + "portal_request.html", ctx)


def _audit_filter_form(request: HttpRequest, account: DeveloperAccount) -> AuditFilterForm:
    return AuditFilterForm(request.GET or None, choices=reads.audit_filter_choices(account))


@require_GET
def account_audit(request: HttpRequest, public_id) -> HttpResponse:
    """The account's audit log, filterable and paginated; htmx gets just the table."""
    account = reads.get_account_for_user(request.user, public_id)
    form = _audit_filter_form(request, account)
    events = reads.audit_events(account, form.filters())
    page = Paginator(events, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    ctx = account_page_context(request, account, "audit", form=form, page=page)
    return render_page(request, T + "audit.html", ctx, "audit_table")


@require_GET
def account_audit_csv(request: HttpRequest, public_id) -> StreamingHttpResponse:
    """The filtered audit log as a streamed CSV download."""
    account = reads.get_account_for_user(request.user, public_id)
    events = reads.audit_events(account, _audit_filter_form(request, account).filters())
    return csv_download(
        download_name("audit", account.company_name, day=timezone.localdate()),
        reads.AUDIT_CSV_COLUMNS,
        reads.audit_csv_rows(events),
        text_columns=reads.AUDIT_CSV_TEXT_COLUMNS,
    )


def _members_page(request, account, invite_form=None, error: str = "", status: int = 200):
    ctx = account_page_context(
        request,
        account,
        "members",
        members=reads.account_members(account),
        invitations=reads.account_open_invitations(account),
        invite_form=invite_form or InvitationForm(),
        roles=Role.choices,
        error=error,
    )
    return render(request, T + "members.html", ctx, status=status)


@require_GET
def account_members(request: HttpRequest, public_id) -> HttpResponse:
    """Members, their roles and open invitations; owners manage them."""
    account = reads.get_account_for_user(request.user, public_id)
    return _members_page(request, account)


@require_POST
def account_invite(request: HttpRequest, public_id) -> HttpResponse:
    """Owner invites someone by email; they become a member only when they accept."""
    account = reads.get_account_for_user(request.user, public_id)
    access.require_owner(request, account)
    form = InvitationForm(request.POST)
    if form.is_valid():
        try:
            invitation_services.invitation_create(
                account=account,
                actor=request.user,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                link_for=lambda token: request.build_absolute_uri(
                    reverse("invitation_accept", args=[token])
                ),
            )
        except ValidationError as exc:
            service_errors_to_form(form, exc)
        else:
            messages.success(request, f"Invitation sent to {form.cleaned_data['email']}.")
            return redirect("account_members", account.public_id)
    return _members_page(request, account, invite_form=form, status=400)


@require_POST
def account_invitation_revoke(request: HttpRequest, public_id, invitation_id) -> HttpResponse:
    """Owner withdraws an open invitation."""
    account = reads.get_account_for_user(request.user, public_id)
    access.require_owner(request, account)
    invitation = get_object_or_404(Invitation, account=account, public_id=invitation_id)
    try:
        invitation_services.invitation_revoke(invitation=invitation, actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Invitation to {invitation.email} revoked.")
    return redirect("account_members", account.public_id)


@login_not_required
@require_http_methods(["GET", "POST"])
@sensitive_post_parameters("password1", "password2")
def invitation_accept(request: HttpRequest, invitation_token: str) -> HttpResponse:
    """The invitation link: a signed-in user accepts; a new person sets a username and password."""
    token = invitation_token
    invitation = invitation_services.invitation_for_token(token)
    if invitation is None:
        return render(request, T + "invitation_invalid.html", status=404)
    signed_in = request.user.is_authenticated
    form = None if signed_in else InvitationSignupForm(posted(request))
    if request.method == "POST" and (signed_in or form.is_valid()):
        try:
            if signed_in:
                invitation_services.invitation_accept(invitation=invitation, user=request.user)
            else:
                user = invitation_services.invitation_accept_new_user(
                    invitation=invitation,
                    username=form.cleaned_data["username"],
                    password=form.cleaned_data["password1"],
                )
                login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        except ValidationError as exc:
            if form is None:
                return render(request, T + "invitation_invalid.html", status=409)
            service_errors_to_form(form, exc)
        else:
            messages.success(request, f"You joined {invitation.account.company_name}.")
            return redirect("account_detail", invitation.account.public_id)
    ctx = {"invitation": invitation, "form": form, "token": token}
    return render(
        request, T + "invitation_accept.html", ctx, status=400 if form and form.errors else 200
    )


def _member_or_404(account: DeveloperAccount, username: str) -> Membership:
    return get_object_or_404(
        Membership.objects.select_related("user"), account=account, user__username=username
    )


@require_POST
def account_member_role(request: HttpRequest, public_id, username: str) -> HttpResponse:
    """Owner changes a member's role; the last owner cannot be demoted."""
    account = reads.get_account_for_user(request.user, public_id)
    access.require_owner(request, account)
    member = _member_or_404(account, username)
    form = MemberRoleForm(request.POST)
    if not form.is_valid():
        return _members_page(request, account, error="Choose a valid role.", status=400)
    try:
        account_services.membership_set(
            account=account, actor=request.user, user=member.user, role=form.cleaned_data["role"]
        )
    except ValidationError as exc:
        return _member_refused(request, account, exc)
    messages.success(request, f"{username} is now {member.get_role_display().lower()}.")
    if member.user == request.user and form.cleaned_data["role"] != Role.OWNER:
        return redirect("account_detail", account.public_id)
    return redirect("account_members", account.public_id)


def _member_refused(request: HttpRequest, account, exc: ValidationError) -> HttpResponse:
    """A refused member change: the reason as a message, then the members page (a reload
    there posts nothing again)."""
    messages.error(request, " ".join(exc.messages))
    return redirect("account_members", account.public_id)


@require_http_methods(["GET", "POST"])
def account_member_remove(request: HttpRequest, public_id, username: str) -> HttpResponse:
    """Owner removes a member after confirming (GET asks); the last owner cannot be removed."""
    account = reads.get_account_for_user(request.user, public_id)
    access.require_owner(request, account)
    member = _member_or_404(account, username)
    if request.method == "GET":
        ctx = account_page_context(request, account, "members", member=member)
        return render(request, T + "member_remove.html", ctx)
    try:
        account_services.membership_remove(account=account, actor=request.user, user=member.user)
    except ValidationError as exc:
        return _member_refused(request, account, exc)
    messages.success(request, f"Removed {username}.")
    if member.user == request.user:
        return redirect("account_list")
    return redirect("account_members", account.public_id)
