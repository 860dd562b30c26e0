"""The overview's open incidents in headless Chromium: 300 offices with one cause are one group."""

from __future__ import annotations

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from integrations.alerts.services.incidents import incidents_evaluate
from integrations.offices.models import Office, OfficeStatus

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_300_offices_with_one_cause_are_one_group(page, live_server, login, screenshot, owner,
                                                   account):  # fmt: skip
    Office.objects.bulk_create(
        [Office(account=account, name=f"Down {i:03}", status=OfficeStatus.ECONNECTOR_DOWN,
                consecutive_failures=2) for i in range(300)]
        + [Office(account=account, name="Rejected One", status=OfficeStatus.KEY_REJECTED,
                  consecutive_failures=2)]
    )  # fmt: skip
    incidents_evaluate(now=timezone.now())
    login("owner")
    groups = page.locator(".incident-groups tbody tr")
    expect(groups).to_have_count(2)  # loaded into the overview by htmx
    expect(groups.nth(1)).to_contain_text("eConnector down")
    expect(groups.nth(1)).to_contain_text("300")
    expect(page.locator("#attention-h")).to_contain_text("301 open incidents")
    screenshot("overview-incident-groups")
