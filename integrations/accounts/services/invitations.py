"""Invitations: an owner invites by email; the person accepts from the link (new or signed in).

The token is shown only once, in the email; the database keeps its SHA-256, so a leaked
database or audit log cannot be used to join an account.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from integrations.accounts.models import DeveloperAccount, Invitation, Membership, Role
from integrations.accounts.services.accounts import _lock_members
from integrations.accounts.services.audit import audit_record

INVITATION_DAYS = 7


def token_hash(token: str) -> str:
    """The stored form of an invitation token."""
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def invitation_create(
    *,
    account: DeveloperAccount,
    actor: AbstractBaseUser,
    email: str,
    role: str,
    link_for: Callable[[str], str],
) -> Invitation:
    """Invite ``email`` with ``role``, replacing an open invitation to the same address, and mail
    the link (``link_for(token)``). A mail failure undoes the invitation: none is claimed sent."""
    email = get_user_model().objects.normalize_email(email.strip())
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}."})
    if Membership.objects.filter(account=account, user__email__iexact=email).exists():
        raise ValidationError({"email": "Someone with this email is already a member."})
    now = timezone.now()
    open_ = Invitation.objects.filter(
        account=account, email__iexact=email, accepted_at=None, revoked_at=None
    )
    open_.update(revoked_at=now)
    token = secrets.token_urlsafe(32)
    invitation = Invitation(
        account=account,
        email=email,
        role=role,
        token_hash=token_hash(token),
        invited_by=actor,
        created_at=now,
        expires_at=now + dt.timedelta(days=INVITATION_DAYS),
    )
    invitation.full_clean()
    invitation.save()
    audit_record(
        account=account,
        actor=actor,
        action="invitation.create",
        obj=account,
        detail={"email": email, "role": role},
    )
    _send_invitation(invitation, actor, link_for(token))
    return invitation


def _send_invitation(invitation: Invitation, actor: AbstractBaseUser, link: str) -> None:
    account = invitation.account
    body = (
        f"{actor.get_username()} invites you to {account.company_name} on odportal as "
        f"{invitation.get_role_display().lower()}.\n\n"
        f"Open this link to accept (it works once, until "
        f"{invitation.expires_at:%Y-%m-%d %H:%M} UTC):\n{link}\n\n"
        "If you did not expect this, ignore this email; nothing happens until you accept."
    )
    try:
        send_mail(
            f"odportal: join {account.company_name}",
            body,
            settings.DEFAULT_FROM_EMAIL,
            [invitation.email],
        )
    except OSError as exc:  # smtplib's errors are OSErrors too
        raise ValidationError(
            {"email": f"The invitation email could not be sent ({exc}); nothing was saved."}
        ) from exc


@sensitive_variables("token")
def invitation_for_token(token: str) -> Invitation | None:
    """The open invitation this token belongs to, or None (used, revoked, expired or unknown)."""
    invitation = (
        Invitation.objects.select_related("account", "invited_by")
        .filter(token_hash=token_hash(token))
        .first()
    )
    return invitation if invitation and invitation.is_pending else None


@transaction.atomic
def invitation_accept(*, invitation: Invitation, user: AbstractBaseUser) -> Membership:
    """``user`` accepts: they become a member with the offered role (a member keeps their role)."""
    _lock_members(invitation.account)
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if not invitation.is_pending:
        raise ValidationError("This invitation is no longer open.")
    membership, created = Membership.objects.get_or_create(
        account=invitation.account, user=user, defaults={"role": invitation.role}
    )
    invitation.accepted_at, invitation.accepted_by = timezone.now(), user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    audit_record(
        account=invitation.account,
        actor=user,
        action="invitation.accept",
        obj=invitation.account,
        detail={
            "email": invitation.email,
            "user": user.get_username(),
            "role": membership.role,
            "added": created,
        },
    )
    return membership


@transaction.atomic
@sensitive_variables("password")
def invitation_accept_new_user(
    *, invitation: Invitation, username: str, password: str
) -> AbstractBaseUser:
    """Create the invitee's login (with the invited email) and accept in one step."""
    user_model = get_user_model()
    user = user_model(username=username, email=invitation.email)
    validate_password(password, user)
    user.set_password(password)
    user.full_clean()
    user.save()
    invitation_accept(invitation=invitation, user=user)
    return user


@transaction.atomic
def invitation_revoke(*, invitation: Invitation, actor: AbstractBaseUser) -> None:
    """Withdraw an open invitation; its link stops working."""
    if invitation.accepted_at or invitation.revoked_at:
        raise ValidationError("This invitation is already closed.")
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at"])
    audit_record(
        account=invitation.account,
        actor=actor,
        action="invitation.revoke",
        obj=invitation.account,
        detail={"email": invitation.email, "role": invitation.role},
    )
