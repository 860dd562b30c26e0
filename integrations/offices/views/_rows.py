"""Office table rows formatted in Python for the office list and the overview."""

from __future__ import annotations

import uuid

from django.urls import reverse
from django.utils import timezone

_UNITS = ((86400 * 365, "year"), (86400 * 30, "month"), (86400 * 7, "week"), (86400, "day"),
          (3600, "hour"), (60, "minute"))  # fmt: skip


def _ago(moment, now) -> str:
    """'3 hours' / '2 days': the largest unit, like timesince but without its per-call cost."""
    seconds = max(0, int((now - moment).total_seconds()))
    for size, unit in _UNITS:
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return "0 minutes"


def office_rows_prepare(offices) -> None:
    """Format office table rows in Python (office list, overview): a template filter per
    cell (url, timesince, date) dominated those pages."""
    now = timezone.now()
    placeholder = uuid.UUID(int=0)
    url = reverse("office_detail", args=[placeholder])
    for office in offices:
        office.detail_url = url.replace(str(placeholder), str(office.public_id))
        office.status_since_ago = ""
        if office.status_since:
            since = timezone.localtime(office.status_since)
            office.status_since_ago = _ago(office.status_since, now)
            office.status_since_iso = since.isoformat()
            office.status_since_title = since.strftime("%Y-%m-%d %H:%M")
        if office.last_success_at:
            local = timezone.localtime(office.last_success_at)
            office.last_success_ago = _ago(office.last_success_at, now)
            office.last_success_iso = local.isoformat()
            office.last_success_title = local.strftime("%Y-%m-%d %H:%M")
        office.aging_total_text = f"{office.aging_total:,.2f}"
