"""The office list's CSV columns, one office a row: what the list's export and a bulk export
write (one definition for both)."""

from __future__ import annotations

from django.utils import timezone

from integrations.offices.models import OFFICE_AGING_FIELDS, Office

OFFICE_CSV_HEADER = (
    "name", "reference", "account", "status", "status_since", "last_success", "key_last4",
    "api_mode", "server_host", "version", "missing_permissions", "polling",
    *OFFICE_AGING_FIELDS, "over_90_share",
)  # fmt: skip
OFFICE_CSV_TEXT = ("name", "reference", "account", "version", "server_host")


def office_csv_row(office: Office) -> list:
    """One office of ``office_list`` as a CSV row (OFFICE_CSV_HEADER's order)."""
    share = office.over_90_share
    return [
        office.name, office.reference, office.account.company_name,
        office.get_status_display(), _iso(office.status_since), _iso(office.last_success_at),
        office.key_last4 or "", office.get_api_mode_display(),
        office.base_url and office.api_host, office.program_version,
        " ".join(office.missing_permissions), "on" if office.polling_enabled else "paused",
        *(getattr(office, f) for f in OFFICE_AGING_FIELDS), "" if share is None else share,
    ]  # fmt: skip


def _iso(moment) -> str:
    return timezone.localtime(moment).isoformat(timespec="seconds") if moment else ""
