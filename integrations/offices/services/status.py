"""The one writer of an office's status: a change sets status and since, and is history."""

from __future__ import annotations

from datetime import datetime

from integrations.offices.models import Office, OfficeStatusChange


def office_status_set(*, office: Office, status: str, now: datetime, error: str = "") -> bool:
    """Move the office (in memory) to ``status``, recording the change; the caller saves
    ``status`` and ``status_since``. False, and nothing written, when it already is."""
    if office.status == status:
        return False
    OfficeStatusChange.objects.create(
        office=office, status=status, previous=office.status, at=now, error=error[:2000]
    )
    office.status, office.status_since = status, now
    return True
