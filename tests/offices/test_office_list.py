"""The office list: search, filters, sort, pagination, htmx partials and a fixed query count."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.urls import reverse
from django.utils import timezone

from integrations.offices.models import ApiMode, OfficeStatus, PollKind, RunOutcome
from tests.factories import (
    CustomerKeyFactory,
    DeveloperAccountFactory,
    MembershipFactory,
    OfficeFactory,
    PollRunFactory,
    bulk_offices,
)

URL = "/offices/"


def _names(response) -> list[str]:
    return [o.name for o in response.context["page"].object_list]


def test_search_matches_name_or_reference(owner_client, account):
    OfficeFactory(account=account, name="Smile Dental")
    OfficeFactory(account=account, name="Other", reference="smile-ref")
    OfficeFactory(account=account, name="Bright Teeth")
    assert sorted(_names(owner_client.get(URL, {"q": "smile"}))) == ["Other", "Smile Dental"]


def test_filters_by_status_mode_and_account(owner_client, owner, account):
    OfficeFactory(account=account, name="A", status=OfficeStatus.ECONNECTOR_DOWN)
    OfficeFactory(account=account, name="B", api_mode=ApiMode.LOCAL)
    second = DeveloperAccountFactory()
    MembershipFactory(account=second, user=owner)
    OfficeFactory(account=second, name="C")
    assert _names(owner_client.get(URL, {"status": "econnector_down"})) == ["A"]
    assert _names(owner_client.get(URL, {"mode": "local"})) == ["B"]
    assert _names(owner_client.get(URL, {"account": str(second.public_id)})) == ["C"]
    assert _names(owner_client.get(URL, {"status": "attention"})) == ["A", "B", "C"]


def test_stale_filter_finds_offices_without_recent_success(owner_client, account):
    old = timezone.now() - timedelta(seconds=900)
    OfficeFactory(account=account, name="Stale", status="ok", last_success_at=old)
    OfficeFactory(account=account, name="Fresh", status="ok", last_success_at=timezone.now())
    assert _names(owner_client.get(URL, {"status": "stale"})) == ["Stale"]


def test_sorts_by_aging_total_and_90_plus_share(owner_client, account):
    OfficeFactory(account=account, name="Low", aging_total=Decimal(10), aging_over_90=Decimal(9))
    OfficeFactory(account=account, name="High", aging_total=Decimal(500), aging_over_90=Decimal(5))
    OfficeFactory(account=account, name="Zero")
    assert _names(owner_client.get(URL, {"sort": "aging", "dir": "desc"}))[:2] == ["High", "Low"]
    assert _names(owner_client.get(URL, {"sort": "over90", "dir": "desc"}))[0] in ("Low", "Zero")
    asc = _names(owner_client.get(URL, {"sort": "over90", "dir": "asc"}))
    assert asc.index("High") < asc.index("Low")
    assert _names(owner_client.get(URL, {"sort": "name", "dir": "desc"})) == ["Zero", "Low", "High"]


def test_paginates_fifty_per_page(owner_client, account):
    bulk_offices(account, 120)
    first = owner_client.get(URL)
    assert len(first.context["page"].object_list) == 50
    last = owner_client.get(URL, {"page": 3})
    assert _names(last) == [f"Bulk office {i:05d}" for i in range(100, 120)]
    assert "page=2" in first.content.decode()


def test_query_count_does_not_grow_with_rows(owner_client, account, django_assert_num_queries):
    few = bulk_offices(account, 3)
    CustomerKeyFactory(office=few[0])
    with django_assert_num_queries(8):
        owner_client.get(URL, {"sort": "over90"})
    many = bulk_offices(account, 150, status=OfficeStatus.OK)
    for office in many[:60]:
        CustomerKeyFactory(office=office)
        PollRunFactory(office=office, outcome=RunOutcome.RUNNING, kind=PollKind.HEALTH)
    with django_assert_num_queries(8):
        response = owner_client.get(URL, {"sort": "gap", "q": "Bulk"})
    assert len(response.context["page"].object_list) == 50


def test_htmx_request_gets_the_results_partial_and_vary(owner_client, office):
    response = owner_client.get(URL, {"q": office.name}, headers={"HX-Request": "true"})
    body = response.content.decode()
    assert response.status_code == 200
    assert 'id="office-results"' in body and "<html" not in body and office.name in body
    assert "HX-Request" in response["Vary"]
    full = owner_client.get(URL)
    assert "<html" in full.content.decode() and "HX-Request" in full["Vary"]


def test_list_shows_key_last4_only_and_search_and_sort_links_keep_href(owner_client, office):
    key = CustomerKeyFactory(office=office, plaintext="AbCdEfGhIjKl9876")
    body = owner_client.get(URL).content.decode()
    assert "…9876" in body and "AbCdEfGhIjKl" not in body
    assert key.last4 == "9876"
    assert 'hx-trigger="keyup changed delay:300ms' in body
    assert 'href="?sort=name&amp;dir=desc"' in body and 'hx-push-url="true"' in body


def test_running_poll_shows_a_polling_badge_that_stops_when_done(owner_client, office):
    run = PollRunFactory(office=office, outcome=RunOutcome.RUNNING, finished_at=None, requests=3)
    body = owner_client.get(URL).content.decode()
    badge_url = reverse("run_badge", args=[run.public_id])
    assert f'hx-get="{badge_url}"' in body and 'hx-trigger="every 2s"' in body
    running = owner_client.get(badge_url)
    assert running.status_code == 200 and "3 requests" in running.content.decode()
    run.outcome = RunOutcome.OK
    run.save()
    done = owner_client.get(badge_url)
    assert done.status_code == 286 and "every 2s" not in done.content.decode()


def test_overview_counts_offices_by_status(owner_client, account):
    # Its "needs attention" is the alerts app's incident panel (tests/alerts/test_views.py).
    OfficeFactory(account=account, name="Healthy", status="ok", last_success_at=timezone.now())
    OfficeFactory(account=account, name="Down", status="econnector_down")
    response = owner_client.get("/")
    counts = {c["status"]: c["count"] for c in response.context["status_counts"]}
    assert counts["ok"] == 1 and counts["econnector_down"] == 1
    assert response.context["attention_total"] == 1


def test_overview_sums_current_snapshots_by_bucket(owner_client, office, snapshot):
    totals = owner_client.get("/").context["totals"]
    assert totals["bal_total"] == snapshot.bal_total
    assert totals["bal_over_90"] == snapshot.bal_over_90 and totals["offices"] == 1


def test_row_ages_read_in_the_largest_unit_and_just_now_when_fresh():
    from datetime import timedelta

    from django.utils import timezone

    from odportal.lib.timefmt import ago

    now = timezone.now()
    assert ago(now, now) == "just now"
    assert ago(now - timedelta(minutes=1, seconds=5), now) == "1 minute ago"
    assert ago(now - timedelta(hours=3, minutes=59), now) == "3 hours ago"
    assert ago(now - timedelta(days=2), now) == "2 days ago"
