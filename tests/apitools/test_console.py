"""The API console against the sandbox over real HTTP: reads, ShortQuery, pacing, writes,
history, re-run and curl."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from integrations.accounts.models import AuditEvent, Role
from integrations.apitools.models import ConsoleCall
from integrations.apitools.services import console
from integrations.apitools.services.console import ConsoleRequest
from tests.factories import MembershipFactory, UserFactory
from tests.helpers import run_to_end


def _url(office, name="apitools_console", *args):
    return reverse(name, args=[office.public_id, *args])


def test_get_appointments_shows_table_and_json(owner_client, sandbox_office):
    response = owner_client.post(
        _url(sandbox_office),
        {"endpoint": "appointments", "p_dateStart": "2020-01-01", "p_Limit": "5"},
    )
    assert response.status_code == 200
    page = response.content.decode()
    result = response.context["result"]
    assert result.call.status == 200 and result.ok
    assert len(result.data) == 5 and "AptNum" in response.context["columns"]
    assert 'id="result-table"' in page and 'id="result-json"' in page
    assert f"<td>{result.data[0]['AptNum']}</td>" in page
    call = ConsoleCall.objects.get()
    assert (call.method, call.path, call.rows) == ("GET", "/appointments", 5)
    assert call.params == {"dateStart": "2020-01-01", "Limit": "5"}


def test_short_query_shows_rows_and_escaped_json(owner_client, sandbox_office):
    sql = "SELECT PatNum, CONCAT('<b>', LName) AS tagged FROM patient ORDER BY PatNum LIMIT 3"
    response = owner_client.post(_url(sandbox_office), {"endpoint": "short_query", "sql": sql})
    page = response.content.decode()
    assert response.context["result"].call.status == 200
    assert response.context["columns"] == ["PatNum", "tagged"]
    assert len(response.context["rows"]) == 3
    assert "<b>" not in page.split('id="result-json"')[1]  # escaped, never markup
    assert "&lt;b&gt;" in page


def test_short_query_write_shows_open_dental_error(owner_client, sandbox_office):
    response = owner_client.post(
        _url(sandbox_office), {"endpoint": "short_query", "sql": "DELETE FROM patient"}
    )
    call = response.context["result"].call
    assert call.status == 401 and "not read-only" in call.error
    assert 'id="result-error"' in response.content.decode()


def test_examples_fill_in_the_short_query(owner_client, sandbox_office):
    page = owner_client.get(_url(sandbox_office) + "?example=apikey").content.decode()
    assert "SELECT CustApiKey FROM apikey WHERE DevName=" in page
    response = owner_client.get(_url(sandbox_office) + "?example=aging")
    assert "guarantor" in response.context["form"].initial["sql"].lower()


def test_second_call_within_interval_is_paced_not_refused(owner, sandbox_office, violations):
    before = violations()
    request = ConsoleRequest("GET", "/securityperms")
    first = console.console_send(office=sandbox_office, actor=owner, request=request)
    second = console.console_send(office=sandbox_office, actor=owner, request=request)
    assert first.call.status == second.call.status == 200
    assert second.call.paced_ms > 0  # waited for the key's slot
    assert violations() == before


def test_console_shares_the_pacer_with_polling(owner, sandbox_office, violations):
    before = violations()
    console.console_send(
        office=sandbox_office, actor=owner, request=ConsoleRequest("GET", "/clinics")
    )
    run = run_to_end(sandbox_office)
    assert run.outcome == "ok"
    assert violations() == before


def test_paging_via_offset(owner_client, sandbox_office):
    response = owner_client.post(_url(sandbox_office), {"endpoint": "appointments"})
    assert len(response.context["rows"]) == 100
    assert response.context["next_offset"] == 100
    call = response.context["result"].call
    nxt = owner_client.post(_url(sandbox_office, "apitools_console_rerun", call.public_id),
                            {"offset": "100"})  # fmt: skip
    assert nxt.context["result"].call.params["Offset"] == "100"
    first_ids = {r["AptNum"] for r in response.context["result"].data}
    assert not first_ids & {r["AptNum"] for r in nxt.context["result"].data}


def test_free_get_path(owner_client, sandbox_office):
    response = owner_client.post(
        _url(sandbox_office), {"endpoint": "free_get", "path": "/operatories?ClinicNum=1"}
    )
    call = response.context["result"].call
    assert (call.path, call.params, call.status) == ("/operatories", {"ClinicNum": "1"}, 200)


@pytest.mark.parametrize("path", ["http://evil/x", "//evil/x", "/a/../b", "operatories"])
def test_free_get_refuses_other_hosts_and_odd_paths(owner_client, sandbox_office, path):
    response = owner_client.post(_url(sandbox_office), {"endpoint": "free_get", "path": path})
    assert response.context["form"].errors["path"]
    assert not ConsoleCall.objects.exists()


def test_writes_are_off_until_the_owner_allows_them(owner_client, owner, sandbox_office):
    body = json.dumps({"LName": "Console", "FName": "Test", "Birthdate": "1990-02-03"})
    data = {"endpoint": "patient_create", "body": body, "confirm_office": sandbox_office.name}
    response = owner_client.post(_url(sandbox_office), data)
    assert "off for this account" in str(response.context["form"].non_field_errors())
    assert not ConsoleCall.objects.exists()
    owner_client.post(_url(sandbox_office, "apitools_console_writes"), {"writes_enabled": "on"})
    wrong = owner_client.post(_url(sandbox_office), {**data, "confirm_office": "nope"})
    assert wrong.context["form"].errors["confirm_office"]
    sent = owner_client.post(_url(sandbox_office), data)
    # The sandbox office has no ApiPatients: Open Dental's refusal is shown, the write audited.
    call = sent.context["result"].call
    assert call.status == 401 and "ApiPatients" in call.error, call.error
    event = AuditEvent.objects.get(action="console.write")
    assert event.detail == {
        "office": sandbox_office.name, "method": "POST", "path": "/patients",
        "body_bytes": len(body), "status": 401,
    }  # fmt: skip
    assert "Console" not in json.dumps(event.detail)  # the size, never the body or answer


def test_rerun_of_a_write_asks_for_confirmation_again(owner_client, owner, sandbox_office):
    console.console_writes_set(account=sandbox_office.account, actor=owner, enabled=True)
    body = json.dumps({"LName": "Again", "FName": "Once", "Birthdate": "1991-02-03"})
    data = {"endpoint": "patient_create", "body": body, "confirm_office": sandbox_office.name}
    owner_client.post(_url(sandbox_office), data)
    call = ConsoleCall.objects.get()
    response = owner_client.post(_url(sandbox_office, "apitools_console_rerun", call.public_id))
    assert response.context["result"] is None
    assert response.context["form"].initial["body"] == body
    assert ConsoleCall.objects.count() == 1


def test_history_lists_calls_and_rerun_sends_again(owner_client, owner, sandbox_office):
    console.console_send(
        office=sandbox_office, actor=owner, request=ConsoleRequest("GET", "/clinics")
    )
    call = ConsoleCall.objects.get()
    response = owner_client.post(_url(sandbox_office, "apitools_console_rerun", call.public_id))
    assert response.context["result"].call.status == 200
    history = response.context["history"]
    assert [c.path for c in history] == ["/clinics", "/clinics"]
    assert all(c.actor == owner for c in history)
    table = response.content.decode().split('id="console-history"')[1]
    assert table.count("<code>GET /clinics</code>") == 2


def test_curl_line_masks_the_keys(owner_client, owner, sandbox_office):
    request = ConsoleRequest("PUT", "/queries/ShortQuery", {"Offset": "100"}, "SELECT 1")
    console.console_send(office=sandbox_office, actor=owner, request=request)
    call = ConsoleCall.objects.get()
    line = owner_client.get(_url(sandbox_office, "apitools_console_curl", call.public_id))
    text = line.content.decode()
    assert text.startswith("curl -X PUT ") and "/queries/ShortQuery?Offset=100" in text
    assert "${OD_DEVELOPER_KEY}/${OD_CUSTOMER_KEY}" in text
    assert '{"SqlCommand": "SELECT 1"}' in text
    assert sandbox_office.manifest["customer_key"] not in text


def test_viewers_and_outsiders_cannot_use_the_console(client, account, teammate, outsider, office):
    url = reverse("apitools_console", args=[office.public_id])
    client.force_login(teammate)
    assert client.get(url).status_code == 403
    client.force_login(outsider)
    assert client.get(url).status_code == 404


def test_operators_use_the_console_but_only_owners_allow_writes(client, account, office):
    operator = MembershipFactory(account=account, user=UserFactory(), role=Role.OPERATOR).user
    client.force_login(operator)
    assert client.get(reverse("apitools_console", args=[office.public_id])).status_code == 200
    url = reverse("apitools_console_writes", args=[office.public_id])
    assert client.post(url, {"writes_enabled": "on"}).status_code == 403


def test_office_without_key_says_so(owner_client, office):
    response = owner_client.post(_url(office), {"endpoint": "clinics"})
    assert "no current customer key" in str(response.context["form"].non_field_errors())


def test_console_page_query_count_does_not_grow_with_history(
    owner_client, owner, office, key, django_assert_num_queries
):
    for _ in range(20):
        ConsoleCall.objects.create(office=office, actor=owner, method="GET", path="/clinics")
    # (One of them is the workers-alive banner every signed-in page reads.)
    with django_assert_num_queries(8):
        page = owner_client.get(reverse("apitools_console", args=[office.public_id]))
    assert len(page.context["history"]) == 20
