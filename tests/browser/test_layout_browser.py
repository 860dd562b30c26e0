"""Every main page at a 1,400 px desktop and a 390 px phone: nothing scrolls sideways, no card
is wider than its box (a wide table scrolls inside its own wrapper), every badge's text fits
its pill. Screenshots of each page at each width go to artifacts/screenshots/."""

from __future__ import annotations

import pytest
from django.urls import reverse

from integrations.offices.models import Office, OfficeStatus
from tests.factories import (
    AgingSnapshotFactory,
    AuditEventFactory,
    ClinicFactory,
    CustomerKeyFactory,
    OfficeFactory,
    PollRunFactory,
    make_current,
    make_rows,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LONG_NAME = (
    "The Extraordinarily Long-Named Family, Cosmetic and Implant Dentistry Practice of "
    "Northern Springfield-Shelbyville Zahnarztpraxisgemeinschaftsverwaltungsgesellschaft"
)
WIDTHS = {"desktop": 1400, "phone": 390}

# Measured in the page: the document, every card, every badge.
OVERFLOW_JS = """() => {
  const out = [];
  const doc = document.scrollingElement;
  if (doc.scrollWidth > doc.clientWidth) {
    out.push(`document ${doc.scrollWidth} > ${doc.clientWidth}`);
  }
  const name = (el) => el.id || el.getAttribute('aria-labelledby') || el.className;
  for (const card of document.querySelectorAll('.card')) {
    if (card.scrollWidth > card.clientWidth + 1) {
      out.push(`card ${name(card)} ${card.scrollWidth} > ${card.clientWidth}`);
    }
  }
  for (const badge of document.querySelectorAll('.badge')) {
    if (badge.scrollWidth > badge.clientWidth + 1) out.push(`badge "${badge.textContent.trim()}"`);
  }
  return out;
}"""


@pytest.fixture
def fleet(account, owner):
    account.company_name = "Acme Dental Apps " + LONG_NAME[:60]
    account.save()
    office = OfficeFactory(account=account, name=LONG_NAME, reference="ref-" + "x" * 40)
    Office.objects.filter(pk=office.pk).update(
        status=OfficeStatus.PERMISSION_MISSING,
        missing_permissions=["ApiQueries"],
        last_error="The key lacks ApiQueries, which the account requested.",
    )
    CustomerKeyFactory(office=office, is_current=True)
    for name, status in [("Bright Smiles", "ok"), ("Cedar Dental", "econnector_down")]:
        OfficeFactory(account=account, name=name, status=status)
    ClinicFactory(office=office, clinic_num=1, abbr="NORTH", description="North " + LONG_NAME)
    snap = AgingSnapshotFactory(office=office)
    make_rows(snap, 30, clinics=(0, 1))
    make_current(office, snap)
    PollRunFactory(office=office, error="HTTP 400 · EConnectorDown: " + "e" * 200)
    AuditEventFactory(
        account=account, actor=owner, object_repr=LONG_NAME, detail={"name": LONG_NAME}
    )
    return office


def _pages(office) -> dict[str, str]:
    account = office.account.public_id
    return {
        "overview": reverse("overview"),
        "offices": reverse("office_list"),
        "office": reverse("office_detail", args=[office.public_id]),
        "office-edit": reverse("office_edit", args=[office.public_id]),
        "office-new": reverse("office_new"),
        "aging": reverse("office_aging", args=[office.public_id]),
        "incidents": reverse("incident_list"),
        "accounts": reverse("account_list"),
        "account": reverse("account_detail", args=[account]),
        "members": reverse("account_members", args=[account]),
        "permissions": reverse("account_permissions", args=[account]),
        "portal-request": reverse("account_portal_request", args=[account]),
        "audit": reverse("account_audit", args=[account]),
        "import": reverse("account_import", args=[account]),
        "alerts": reverse("account_alerts", args=[account]),
        "password-change": reverse("password_change"),
        "fleet-aging": reverse("fleet_aging"),
        "console": reverse("apitools_console", args=[office.public_id]),
        "events": reverse("apitools_inbox", args=[office.public_id]),
        "subscriptions": reverse("apitools_subscriptions", args=[office.public_id]),
        "account-events": reverse("apitools_account_inbox", args=[account]),
        "portal-keys": reverse("account_portal_keys", args=[account]),
        "billing": reverse("account_billing", args=[account]),
        "onboarding": reverse("office_onboarding", args=[office.public_id]),
    }


def test_no_page_scrolls_sideways_at_desktop_or_phone_width(
    page, live_server, login, screenshot, owner, fleet
):
    login("owner")
    problems = []
    for width in WIDTHS.values():
        page.set_viewport_size({"width": width, "height": 900})
        for name, path in _pages(fleet).items():
            response = page.goto(f"{live_server.url}{path}")
            assert response.ok, f"{name}: HTTP {response.status}"
            page.wait_for_load_state("networkidle")
            screenshot(f"layout-{name}-{width}")
            problems += [f"{name} @{width}px: {p}" for p in page.evaluate(OVERFLOW_JS)]
    assert not problems, "\n".join(problems)


def test_signed_out_pages_fit_a_phone_and_the_favicon_is_served(page, live_server, screenshot):
    page.set_viewport_size({"width": 390, "height": 800})
    for name in ("login", "password_reset"):
        page.goto(f"{live_server.url}{reverse(name)}")
        screenshot(f"layout-{name}-390")
        assert page.evaluate(OVERFLOW_JS) == [], name
    icon = page.locator("link[rel=icon]").get_attribute("href")
    response = page.request.get(f"{live_server.url}{icon}")
    assert response.ok and "svg" in response.headers["content-type"]


def test_the_key_column_does_not_wrap(page, live_server, login, owner, fleet):
    login("owner")
    page.set_viewport_size({"width": 390, "height": 900})
    page.goto(f"{live_server.url}{reverse('office_detail', args=[fleet.public_id])}")
    cell = page.locator("#keys-card tbody tr td").first
    code, badge = cell.locator("code").bounding_box(), cell.locator(".badge").bounding_box()
    # One line: the key's last 4 and its "Current" badge sit side by side, even on a phone.
    assert code["height"] < 30
    assert abs((code["y"] + code["height"] / 2) - (badge["y"] + badge["height"] / 2)) < 8
    assert badge["x"] > code["x"] + code["width"]
