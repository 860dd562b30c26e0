"""The daily digest email per account: open incidents, new and resolved in the last day, and
the keys billed while idle (from the Developer Portal inventory, once one was synced).

Sent by the ``alerts.digest`` beat task at the account's hour in its digest time zone. The
Digest row (one per account and local day, a unique constraint) is the claim: a task that runs
twice, or two at once, sends one digest; a failed one is tried again by the next runs that day,
up to DIGEST_ATTEMPTS. A run that dies while sending leaves its row pending: at most one
digest a day, never two.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import F

from integrations.accounts.models import DeveloperAccount, Membership, Role
from integrations.alerts.models import (
    CAUSE_LABELS,
    AlertSettings,
    Channel,
    ChannelKind,
    DeliveryState,
    Digest,
    Incident,
)
from integrations.alerts.services.deliveries import email_recipients
from integrations.offices.selectors.inventory import account_inventory

logger = logging.getLogger(__name__)

DIGEST_ATTEMPTS = 3
LISTED = 25  # incidents named in each section; the counts cover all


@dataclass
class DigestContent:
    open_by_cause: Counter = field(default_factory=Counter)
    open_listed: list[Incident] = field(default_factory=list)
    new: list[Incident] = field(default_factory=list)
    resolved: list[Incident] = field(default_factory=list)
    idle_billed: list[str] = field(default_factory=list)
    inventory_synced: bool = False


def digest_content(account: DeveloperAccount, *, now: datetime) -> DigestContent:
    """What the account's digest says, as of ``now``."""
    day_ago = now - timedelta(days=1)
    mine = Incident.objects.filter(account=account).select_related("office")
    open_ = mine.filter(resolved_at__isnull=True)
    content = DigestContent(
        open_by_cause=Counter(open_.values_list("cause", flat=True)),
        open_listed=list(open_.order_by("first_seen", "pk")[:LISTED]),
        new=list(mine.filter(opened_at__gte=day_ago).order_by("opened_at", "pk")[:LISTED]),
        resolved=list(mine.filter(resolved_at__gte=day_ago).order_by("resolved_at", "pk")[:LISTED]),
    )
    inventory = account_inventory(account)
    content.inventory_synced = inventory.sync is not None and inventory.sync.synced_at is not None
    content.idle_billed = [
        f"…{portal.last4} ({key.office.name}, {key.office.get_status_display()})"
        for portal, key in inventory.idle_billed
    ]
    return content


def _line(incident: Incident) -> str:
    where = incident.office.name if incident.office else "odportal"
    label = CAUSE_LABELS.get(incident.cause, incident.cause)
    return f"- {where}: {label} since {incident.first_seen:%Y-%m-%d %H:%M} UTC"


def digest_text(account: DeveloperAccount, content: DigestContent, day) -> tuple[str, str]:
    """Subject and plain-text body of the digest."""
    total = sum(content.open_by_cause.values())
    subject = f"[odportal] Daily digest {day:%Y-%m-%d}: {total} open incident" + (
        "" if total == 1 else "s"
    )
    lines = [f"{account.company_name}, {day:%A %Y-%m-%d}", "", f"Open incidents: {total}"]
    lines += [f"  {CAUSE_LABELS.get(c, c)}: {n}" for c, n in content.open_by_cause.most_common()]
    lines += [_line(i) for i in content.open_listed]
    lines += ["", f"New in the last day: {len(content.new)}", *map(_line, content.new)]
    lines += ["", f"Resolved in the last day: {len(content.resolved)}"]
    lines += [_line(i) + f", resolved after {i.duration_minutes} minutes" for i in content.resolved]
    if content.inventory_synced:
        lines += ["", f"Keys billed while idle: {len(content.idle_billed)}"]
        lines += [f"- {k}" for k in content.idle_billed]
    return subject, "\n".join([*lines, ""])


def digest_recipients(account: DeveloperAccount) -> list[str]:
    """The account's enabled email channels' recipients, or (none) its owners' addresses."""
    found: set[str] = set()
    for channel in Channel.objects.filter(account=account, kind=ChannelKind.EMAIL, enabled=True):
        found.update(email_recipients(channel))
    if not found:
        owners = Membership.objects.filter(account=account, role=Role.OWNER)
        found.update(owners.exclude(user__email="").values_list("user__email", flat=True))
    return sorted(found)


def _local_day(now: datetime, policy: AlertSettings):
    """The account's local date, once its digest hour has come that day (else None)."""
    try:
        zone = ZoneInfo(policy.digest_time_zone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):  # the form checks it; a zone since removed
        zone = ZoneInfo("UTC")
    local = now.astimezone(zone)
    return local.date() if local.hour >= policy.digest_hour else None


def digests_send(*, now: datetime) -> int:
    """Send each account's digest whose hour has come and that was not sent today."""
    sent = 0
    for policy in AlertSettings.objects.filter(digest_hour__isnull=False).select_related("account"):
        day = _local_day(now, policy)
        if day is not None and _claim(policy.account, day, now):
            sent += digest_send(account=policy.account, day=day, now=now)
    return sent


def _claim(account: DeveloperAccount, day, now: datetime) -> bool:
    """This run sends the day's digest: it made the row, or took a failed one for a retry."""
    try:
        with transaction.atomic():
            Digest.objects.create(account=account, day=day, created_at=now, attempts=1)
        return True
    except IntegrityError:
        pass
    row = Digest.objects.filter(account=account, day=day).first()
    if row is None or row.state != DeliveryState.FAILED or row.attempts >= DIGEST_ATTEMPTS:
        return False
    return bool(
        Digest.objects.filter(pk=row.pk, state=DeliveryState.FAILED, attempts=row.attempts)
        .update(state=DeliveryState.PENDING, attempts=F("attempts") + 1)
    )  # fmt: skip


def digest_send(*, account: DeveloperAccount, day, now: datetime) -> int:
    """Compose and send the claimed digest; record how it went on its row (1 when sent)."""
    recipients = digest_recipients(account)
    rows = Digest.objects.filter(account=account, day=day)
    if not recipients:
        rows.update(state=DeliveryState.FAILED, attempts=DIGEST_ATTEMPTS,
                    error="No recipients: add an email channel, or owners' addresses.")  # fmt: skip
        return 0
    subject, body = digest_text(account, digest_content(account, now=now), day)
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)
    except (OSError, ValueError) as exc:  # smtplib's errors are OSErrors
        logger.warning("digest of account %s not sent: %s", account.pk, exc)
        rows.update(state=DeliveryState.FAILED, error=f"{type(exc).__name__}: {exc}"[:500])
        return 0
    rows.update(state=DeliveryState.SENT, sent_at=now, recipients=len(recipients), error="")
    return 1
