"""Times on office pages: in the office's zone, named; 'just now' rather than '0 minutes ago';
plurals right in the run badge and the list."""

from __future__ import annotations

import datetime as dt
import re

from django.urls import reverse
from django.utils import timezone

from integrations.offices.models import Office, OfficeStatus, PollKind
from tests.factories import OfficeFactory, PollRunFactory

JULY = dt.datetime(2026, 7, 1, 15, 30, tzinfo=dt.UTC)


def test_office_page_shows_health_and_runs_in_the_offices_zone(owner_client, account):
    office = OfficeFactory(account=account, time_zone="Asia/Tokyo")
    Office.objects.filter(pk=office.pk).update(
        status=OfficeStatus.OK, status_since=JULY, last_success_at=JULY, last_polled_at=JULY
    )
    PollRunFactory(office=office, queued_at=JULY, started_at=JULY, finished_at=JULY, requests=1)
    body = owner_client.get(reverse("office_detail", args=[office.public_id])).content.decode()
    assert "2026-07-02 00:30 JST" in body  # 15:30 UTC is the next day in Tokyo
    assert "00:30:00" in body and "Asia/Tokyo" in body
    assert "2026-07-01 15:30" not in body


def test_a_fresh_change_says_just_now_never_zero_minutes(owner_client, account):
    office = OfficeFactory(account=account)
    now = timezone.now()
    Office.objects.filter(pk=office.pk).update(
        status=OfficeStatus.KEY_REJECTED, status_since=now, last_success_at=now
    )
    for url in (reverse("office_detail", args=[office.public_id]), reverse("office_list")):
        body = owner_client.get(url).content.decode()
        assert "just now" in body, url
        assert not re.search(r"\b0\xa0?\s?minutes", body), url


def test_run_badge_counts_are_singular_for_one(owner_client, office):
    run = PollRunFactory(office=office, kind=PollKind.AGING, requests=1, rows=1)
    body = owner_client.get(reverse("run_badge", args=[run.public_id])).content.decode()
    assert "1 request · 1 row" in body and "1 rows" not in body


def test_one_office_is_counted_in_the_singular(owner_client, office):
    body = owner_client.get(reverse("office_list")).content.decode()
    assert ">1 office<" in body and "1 offices" not in body
