"""Times and counts said one way: 'just now', plurals, the one format with its zone named."""

from __future__ import annotations

import datetime as dt

import pytest
from django.template import Context, Template
from django.urls import reverse
from django.utils import timezone

from odportal.lib import timefmt
from odportal.lib.viewer_tz import COOKIE

NOW = dt.datetime(2026, 7, 1, 15, 30, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("seconds", "said"),
    [
        (0, "just now"),
        (59, "just now"),
        (60, "1 minute ago"),
        (119, "1 minute ago"),
        (7200, "2 hours ago"),
        (86400, "1 day ago"),
        (-300, "in 5 minutes"),
        (-20, "in under a minute"),
    ],
)
def test_ago(seconds, said):
    assert timefmt.ago(NOW - dt.timedelta(seconds=seconds), NOW) == said


def test_plural():
    assert [timefmt.plural(n, "office") for n in (0, 1, 2, 1500)] == [
        "0 offices", "1 office", "2 offices", "1,500 offices",
    ]  # fmt: skip
    assert timefmt.plural(1, "person", "people") == "1 person"
    assert timefmt.plural(3, "person", "people") == "3 people"


def test_when_names_the_zone_of_the_office_or_the_viewer():
    assert timefmt.when(NOW, "America/Chicago") == "2026-07-01 10:30 CDT"
    assert timefmt.when(NOW, "Asia/Tokyo") == "2026-07-02 00:30 JST"
    with timezone.override("Europe/Berlin"):
        assert timefmt.when(NOW) == "2026-07-01 17:30 CEST"
        assert timefmt.when(NOW, "Not/AZone") == "2026-07-01 17:30 CEST"
    assert timefmt.clock(NOW, "America/Chicago") == "10:30:00"


def test_filters_are_built_in_for_every_template():
    text = Template('{{ t|ago }} · {{ n|plural:"office" }} · {{ t|when:"UTC" }}').render(
        Context({"t": timezone.now(), "n": 1})
    )
    assert text.startswith("just now · 1 office · ")
    assert text.endswith(" UTC")


def test_the_viewers_zone_comes_from_the_cookie(client, owner, account):
    from tests.factories import AuditEventFactory

    AuditEventFactory(account=account, created_at=NOW)
    client.force_login(owner)
    url = reverse("account_audit", args=[account.public_id])
    assert "2026-07-01 15:30 UTC" in client.get(url).content.decode()
    client.cookies[COOKIE] = "America%2FNew_York"
    assert "2026-07-01 11:30 EDT" in client.get(url).content.decode()
    client.cookies[COOKIE] = "Nowhere/Atlantis"
    assert "2026-07-01 15:30 UTC" in client.get(url).content.decode()
