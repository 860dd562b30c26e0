"""The office list at fleet scale: page size and jump to page kept in the query, search by key
last-4, server host and version, and the list (its filter and sort) as a CSV download."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from django.utils import timezone

from integrations.offices.models import ApiMode
from tests.factories import (
    CustomerKeyFactory,
    DeveloperAccountFactory,
    OfficeFactory,
    bulk_offices,
)

URL = "/offices/"
CSV_URL = "/offices.csv"


def _names(response) -> list[str]:
    return [o.name for o in response.context["page"].object_list]


def _csv(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")  # Excel reads it as UTF-8
    return list(csv.reader(io.StringIO(body.removeprefix("\ufeff"))))


def test_page_size_is_taken_from_the_query_and_kept_by_links_and_forms(owner_client, account):
    bulk_offices(account, 130)
    response = owner_client.get(URL, {"per_page": "25", "sort": "name"})
    assert len(_names(response)) == 25
    body = response.content.decode()
    assert "per_page=25" in body  # the pager and the sort links keep it
    assert '<option value="25" selected>' in body
    assert len(_names(owner_client.get(URL, {"per_page": "100"}))) == 100
    assert len(_names(owner_client.get(URL, {"per_page": "200"}))) == 130


def test_an_unknown_page_size_falls_back_to_fifty(owner_client, account):
    bulk_offices(account, 60)
    for bad in ("7", "100000", "abc", ""):
        assert len(_names(owner_client.get(URL, {"per_page": bad}))) == 50


def test_jump_to_page_form_keeps_the_query_but_its_page(owner_client, account):
    bulk_offices(account, 120)
    response = owner_client.get(URL, {"q": "Bulk", "per_page": "25", "page": "2"})
    body = response.content.decode()
    assert 'id="jump-page"' in body and 'max="5"' in body and 'value="2"' in body
    assert '<input type="hidden" name="q" value="Bulk">' in body
    assert '<input type="hidden" name="per_page" value="25">' in body
    assert '<input type="hidden" name="page"' not in body
    jumped = owner_client.get(URL, {"q": "Bulk", "per_page": "25", "page": "4"})
    assert _names(jumped)[0] == "Bulk office 00075"


def test_search_finds_the_current_key_by_its_last_4(owner_client, account):
    with_key = OfficeFactory(account=account, name="Keyed")
    CustomerKeyFactory(office=with_key, plaintext="AbCdEfGhIjKlQ7x9")
    retired = OfficeFactory(account=account, name="Retired key")
    CustomerKeyFactory(office=retired, plaintext="ZZZZZZZZZZZZQ7x9", is_current=False)
    OfficeFactory(account=account, name="Other")
    for q in ("Q7x9", "…Q7x9", "...Q7x9"):
        assert _names(owner_client.get(URL, {"q": q})) == ["Keyed"], q


def test_search_finds_server_host_and_version(owner_client, account):
    OfficeFactory(
        account=account, name="Own server", api_mode=ApiMode.SERVICE,
        base_url="http://10.8.0.5:30223/api/v1",
    )  # fmt: skip
    OfficeFactory(account=account, name="Versioned", program_version="24.3.15.0")
    OfficeFactory(account=account, name="Plain", program_version="23.1.1.0")
    assert _names(owner_client.get(URL, {"q": "10.8.0.5"})) == ["Own server"]
    assert _names(owner_client.get(URL, {"q": "24.3"})) == ["Versioned"]
    assert _names(owner_client.get(URL, {"q": "smile"})) == []


def test_csv_export_is_the_filtered_sorted_list_with_a_bom_and_a_dated_name(
    owner_client, owner, account
):
    OfficeFactory(account=account, name="Zahnärzte Süd", reference="=HYPERLINK(1)",
                  aging_total=Decimal("100.00"), aging_over_90=Decimal("25.00"))  # fmt: skip
    OfficeFactory(account=account, name="Alpha")
    OfficeFactory(account=account, name="Hidden", api_mode=ApiMode.LOCAL,
                  base_url="http://10.0.0.9/api/v1")  # fmt: skip
    other = OfficeFactory(account=DeveloperAccountFactory(), name="Other team")
    response = owner_client.get(CSV_URL, {"mode": "remote", "sort": "name", "dir": "desc"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    today = timezone.localdate().isoformat()
    assert response["Content-Disposition"] == f'attachment; filename="offices-{today}.csv"'
    rows = _csv(response)
    assert rows[0][:3] == ["name", "reference", "account"] and rows[0][-1] == "over_90_share"
    assert [r[0] for r in rows[1:]] == ["Zahnärzte Süd", "Alpha"]
    assert rows[1][1] == "'=HYPERLINK(1)"  # formula-safe
    assert rows[1][-2:] == ["100.00", "25.0"]
    assert other.name not in str(rows)


def test_csv_export_reads_the_list_in_a_fixed_number_of_queries(
    owner_client, account, django_assert_num_queries
):
    for office in bulk_offices(account, 40):
        CustomerKeyFactory(office=office)
    with django_assert_num_queries(4):  # session, user, accounts, the offices
        rows = _csv(owner_client.get(CSV_URL))
    assert len(rows) == 41 and all(len(r[6]) == 4 for r in rows[1:])


def test_the_list_links_its_export_with_the_current_filter(owner_client, office):
    body = owner_client.get(URL, {"status": "ok", "sort": "aging"}).content.decode()
    assert 'href="/offices.csv?status=ok&amp;sort=aging"' in body


def test_the_page_size_control_shows_the_size_in_use(owner_client, office):
    assert '<option value="" selected>50</option>' in owner_client.get(URL).content.decode()
    body = owner_client.get(URL, {"status": "ok"}).content.decode()
    assert '<option value="" selected>50</option>' in body
    body = owner_client.get(URL, {"per_page": "200"}).content.decode()
    assert '<option value="200" selected>200</option>' in body
