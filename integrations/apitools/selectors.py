"""Reads of the API console and the API Events inbox, for one office or one account."""

from __future__ import annotations

from django.db.models import QuerySet

from integrations.accounts.models import DeveloperAccount
from integrations.apitools.models import ConsoleCall, EventBatch, EventInbox
from integrations.offices.models import Office

HISTORY_SIZE = 25


def console_history(office: Office) -> list[ConsoleCall]:
    """The office's latest console calls, newest first, with who sent them."""
    return list(ConsoleCall.objects.filter(office=office).select_related("actor")[:HISTORY_SIZE])


def event_batches(office: Office, filters: dict[str, str]) -> QuerySet[EventBatch]:
    """The office's received batches, newest first, by table, type, workstation and text."""
    return _filtered(EventBatch.objects.filter(office=office).defer("rows"), filters)


def event_batches_for_account(
    account: DeveloperAccount, filters: dict[str, str]
) -> QuerySet[EventBatch]:
    """The batches of every office of the account, newest first, with the same filters and
    each batch's office (one join, not a query per row)."""
    batches = (
        EventBatch.objects.filter(office__account=account)
        .select_related("office").defer("rows")
    )  # fmt: skip
    return _filtered(batches, filters)


def event_inboxes_stopped(account: DeveloperAccount) -> list[EventInbox]:
    """The account's inboxes the dead-man switch marked stopped, with their offices."""
    stopped = EventInbox.objects.filter(office__account=account, stopped_at__isnull=False)
    return list(stopped.select_related("office").order_by("stopped_at"))


def _filtered(batches: QuerySet[EventBatch], filters: dict[str, str]) -> QuerySet[EventBatch]:
    for name in ("table", "event_type", "workstation"):
        if filters.get(name):
            batches = batches.filter(**{f"{name}__iexact": filters[name]})
    if filters.get("q"):
        # Text search over the rows' JSON: the database's own text of it (small inboxes).
        batches = batches.filter(rows__icontains=filters["q"])
    return batches
