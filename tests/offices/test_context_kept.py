"""Context the office pages keep (issue 21, "Context that is lost"): the list's sort through a
search or filter, the other filters through a refused search, the aging page's sort through
its clinic filter, a typed as-of date through its error."""

from __future__ import annotations

import re
from datetime import date

from django.urls import reverse

from integrations.offices.models import OfficeStatus, PollRun, RunOutcome
from tests.factories import ClinicFactory, OfficeFactory, PollRunFactory

URL = "/offices/"
HTMX = {"HTTP_HX_REQUEST": "true"}


def _names(response) -> list[str]:
    return [o.name for o in response.context["page"].object_list]


def _hidden(html: str, name: str) -> str:
    """The value of the hidden input ``name`` tied to the filter form."""
    match = re.search(
        rf'<input type="hidden" name="{name}" value="([^"]*)" form="office-filters"', html
    )
    assert match, f"no hidden {name} for the filter form"
    return match.group(1)


def test_sort_travels_with_the_table_swap(owner_client, account):
    OfficeFactory(account=account, name="A")
    response = owner_client.get(URL, {"sort": "status", "dir": "desc"}, **HTMX)
    html = response.content.decode()
    # The partial a header click swaps in carries the sort the next search submits.
    assert _hidden(html, "sort") == "status"
    assert _hidden(html, "dir") == "desc"


def test_full_page_renders_the_sort_once(owner_client, account):
    html = owner_client.get(URL, {"sort": "aging", "dir": "desc"}).content.decode()
    # Once for the filter form (the bulk form carries the query too, as its own field).
    assert html.count('form="office-filters"') == 2  # sort and dir
    assert _hidden(html, "sort") == "aging"
    assert html.count('id="q-error"') == 1  # the search error's slot, not also out of band
    assert "{#" not in html and "#}" not in html  # a template comment over two lines shows


def test_long_search_is_refused_and_other_filters_stay(owner_client, account):
    OfficeFactory(account=account, name="Down", status=OfficeStatus.ECONNECTOR_DOWN)
    OfficeFactory(account=account, name="Fine", status=OfficeStatus.OK)
    long_q = "x" * 101
    response = owner_client.get(URL, {"q": long_q, "status": "ok", "sort": "name"})
    assert _names(response) == ["Fine"]  # status=ok still applies; the search does not
    html = response.content.decode()
    assert "Search for at most 100 characters (this has 101)" in html
    assert f'value="{long_q}"' in html  # what was typed stays in the field
    assert 'aria-invalid="true"' in html


def test_long_search_error_comes_out_of_band_with_the_partial(owner_client, account):
    OfficeFactory(account=account, name="Fine", status=OfficeStatus.OK)
    response = owner_client.get(URL, {"q": "y" * 150, "status": "ok"}, **HTMX)
    html = response.content.decode()
    assert re.search(r'<p id="q-error"[^>]*hx-swap-oob="true"[^>]*>Search for at most 100', html)
    ok = owner_client.get(URL, {"q": "fine"}, **HTMX).content.decode()
    # A valid search clears the message (an empty slot swapped out of band).
    assert re.search(r'<p id="q-error"[^>]*hx-swap-oob="true"[^>]*></p>', ok)


def test_bad_status_is_left_out_and_search_still_applies(owner_client, account):
    OfficeFactory(account=account, name="Lakeside")
    OfficeFactory(account=account, name="Other")
    assert _names(owner_client.get(URL, {"q": "lake", "status": "bogus"})) == ["Lakeside"]


def test_aging_clinic_filter_keeps_the_sort(owner_client, office, snapshot):
    ClinicFactory(office=office, clinic_num=1, abbr="North")
    url = f"/offices/{office.public_id}/aging/"
    html = owner_client.get(url, {"sort": "pat_num", "dir": "asc"}, **HTMX).content.decode()
    # The rows partial (swapped by a header click) carries the clinic form's sort.
    assert re.search(r'name="sort" value="pat_num" form="clinic-filter-form"', html)
    assert re.search(r'name="dir" value="asc" form="clinic-filter-form"', html)


def _as_of_url(office) -> str:
    return f"/offices/{office.public_id}/aging/as-of/"


def test_as_of_error_is_on_the_field_with_the_typed_date(owner_client, office, snapshot):
    response = owner_client.post(_as_of_url(office), {"as_of": "1999-12-31"})
    assert response.status_code == 200  # the page again, not a redirect to a banner
    form = response.context["as_of_form"]
    assert form.errors["as_of"] == [
        "Choose a date from 2000-01-01 on: Open Dental holds no earlier ledger to age."
    ]
    html = response.content.decode()
    assert 'value="1999-12-31"' in html
    assert 'id="as_of-errors"' in html
    assert not PollRun.objects.exists()


def test_as_of_1900_is_refused_and_2000_is_accepted(owner_client, office):
    owner_client.post(_as_of_url(office), {"as_of": "1900-01-01"})
    assert not PollRun.objects.exists()
    assert owner_client.post(_as_of_url(office), {"as_of": "2000-01-01"}).status_code == 302
    assert PollRun.objects.get().as_of == date(2000, 1, 1)


def test_as_of_error_over_htmx_swaps_only_the_form(owner_client, office):
    response = owner_client.post(_as_of_url(office), {"as_of": "2099-01-01"}, **HTMX)
    html = response.content.decode()
    assert html.lstrip().startswith('<form id="as-of-form"')
    assert "Choose today or a date in the past." in html and 'value="2099-01-01"' in html
    ok = owner_client.post(_as_of_url(office), {"as_of": "2024-06-30"}, **HTMX)
    assert ok["HX-Redirect"] == f"/offices/{office.public_id}/aging/"


def test_a_finished_run_badge_tells_the_page_to_reload_its_sections(owner_client, office):
    active = PollRunFactory(office=office, outcome=RunOutcome.RUNNING, finished_at=None)
    url = reverse("run_badge", args=[active.public_id])
    running = owner_client.get(url, **HTMX)
    assert running.status_code == 200 and "HX-Trigger" not in running
    active.outcome = RunOutcome.OK
    active.save()
    done = owner_client.get(url, **HTMX)
    assert done.status_code == 286
    assert done["HX-Trigger"] == "run-finished"


def test_office_page_reloads_health_or_runs_by_the_target(owner_client, office):
    url = f"/offices/{office.public_id}/"
    html = owner_client.get(url).content.decode()
    for card in ("health-card", "runs-card"):
        assert re.search(rf'id="{card}" hx-get="{url}" hx-trigger="run-finished from:body"', html)
    office.latency_ms = 4321
    office.save()
    PollRunFactory(office=office, error="eConnector said no")
    health = owner_client.get(url, HTTP_HX_TARGET="health-card", **HTMX).content.decode()
    assert '<section class="card" aria-labelledby="health-h" id="health-card"' in health
    assert "4321 ms" in health and "runs-h" not in health
    runs = owner_client.get(url, HTTP_HX_TARGET="runs-card", **HTMX).content.decode()
    assert 'id="runs-card"' in runs and "eConnector said no" in runs and "health-h" not in runs
    keys = owner_client.get(url, HTTP_HX_TARGET="keys-card", **HTMX).content.decode()
    assert 'id="keys-card"' in keys and "health-h" not in keys
