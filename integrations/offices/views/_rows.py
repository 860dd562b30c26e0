"""Office table rows formatted in Python for the office list and the overview."""

from __future__ import annotations

import uuid

from django.urls import reverse
from django.utils import timezone

from odportal.lib import timefmt


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
            held = timefmt.span((now - office.status_since).total_seconds())
            office.status_since_ago = f"for {held}" if held else "just now"
            office.status_since_iso = since.isoformat()
            office.status_since_title = timefmt.when(office.status_since, office.time_zone)
        if office.last_success_at:
            local = timezone.localtime(office.last_success_at)
            office.last_success_ago = timefmt.ago(office.last_success_at, now)
            office.last_success_iso = local.isoformat()
            office.last_success_title = timefmt.when(office.last_success_at, office.time_zone)
        office.aging_total_text = f"{office.aging_total:,.2f}"
