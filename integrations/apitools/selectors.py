"""Reads of the API console and the API Events inbox, for one office."""

from __future__ import annotations

from django.db.models import QuerySet

from integrations.apitools.models import ConsoleCall, EventBatch
from integrations.offices.models import Office

HISTORY_SIZE = 25


def console_history(office: Office) -> list[ConsoleCall]:
    """The office's latest console calls, newest first, with who sent them."""
    return list(ConsoleCall.objects.filter(office=office).select_related("actor")[:HISTORY_SIZE])


def event_batches(office: Office, filters: dict[str, str]) -> QuerySet[EventBatch]:
    """The office's received batches, newest first, by table, type, workstation and text."""
    batches = EventBatch.objects.filter(office=office).defer("rows")
    for name in ("table", "event_type", "workstation"):
        if filters.get(name):
            batches = batches.filter(**{f"{name}__iexact": filters[name]})
    if filters.get("q"):
        # Text search over the rows' JSON: the database's own text of it (small inboxes).
        batches = batches.filter(rows__icontains=filters["q"])
    return batches
