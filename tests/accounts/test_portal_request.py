"""Requested-permissions matrix, the portal access email, mailto link and the key-lookup SQL."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from integrations.accounts.models import PortalAccess, RequestedPermission
from integrations.accounts.selectors import (
    VENDOR_RELATIONS_EMAIL,
    apikey_lookup_sql,
    mysql_string_literal,
    permission_matrix,
    portal_request_email,
)
from tests.factories import RequestedPermissionFactory


def test_permissions_matrix_saves_ticked_boxes(client, account, owner):
    client.force_login(owner)
    url = reverse("account_permissions", args=[account.public_id])
    data = {"Patients__read": "on", "Patients__update": "on", "Queries__read": "on"}
    response = client.post(url, data)
    assert response.status_code == 302
    saved = {p.resource: p for p in RequestedPermission.objects.filter(account=account)}
    assert set(saved) == {"Patients", "Queries"}
    assert saved["Patients"].can_update and not saved["Patients"].can_create
    page = client.get(url).content.decode()
    assert 'name="Patients__read" id="id_Patients__read" checked' in page


def test_unticking_everything_clears_the_matrix(client, account, owner):
    RequestedPermissionFactory(account=account)
    client.force_login(owner)
    client.post(reverse("account_permissions", args=[account.public_id]), {})
    assert not RequestedPermission.objects.filter(account=account).exists()


def test_viewer_sees_matrix_read_only(client, account, teammate):
    RequestedPermissionFactory(account=account, resource="Clinics")
    client.force_login(teammate)
    body = client.get(reverse("account_permissions", args=[account.public_id])).content.decode()
    assert "Yes" in body and "<input" not in body.split("<table")[1]


def test_email_lists_account_details_and_needs_per_resource(account):
    account.third_party_developer_name = "Contract Devs LLC"
    account.third_party_developer_email = "devs@contract.example"
    account.save()
    RequestedPermissionFactory(account=account, resource="Patients", can_create=True)
    RequestedPermissionFactory(
        account=account, resource="Appointments", can_read=True, can_update=True
    )
    email = portal_request_email(account)
    assert email.to == VENDOR_RELATIONS_EMAIL == "vendor.relations@opendental.com"
    assert account.company_name in email.subject
    for text in (
        account.company_name,
        account.contact_phone,
        account.billing_email,
        "1 Main St",
        "Springfield",
        "Contract Devs LLC <devs@contract.example>",
        f"Developer name for the portal: {account.dev_name}",
        account.app_description,
        "- Patients: read, create",
        "- Appointments: read, update",
    ):
        assert text in email.body
    assert "Queries" not in email.body


def test_email_says_when_no_resource_is_selected(account):
    assert "(none selected yet)" in portal_request_email(account).body


def test_mailto_encodes_subject_and_body(account):
    account.company_name = "Smith & Sons? #1"
    account.save()
    RequestedPermissionFactory(account=account)
    email = portal_request_email(account, permission_matrix(account))
    parts = urlsplit(email.mailto)
    assert parts.scheme == "mailto" and parts.path == VENDOR_RELATIONS_EMAIL
    assert (
        " " not in email.mailto
        and "\n" not in email.mailto
        and "&" not in parts.query.split("&body=")[1]
    )
    query = parse_qs(parts.query)
    assert query["subject"] == [email.subject]
    assert query["body"][0] == email.body.replace("\n", "\r\n")
    assert "%0D%0A" in email.mailto


def test_portal_request_page_shows_email_copy_button_mailto_and_sql(client, account, teammate):
    RequestedPermissionFactory(account=account, resource="Reports")
    client.force_login(teammate)
    body = client.get(reverse("account_portal_request", args=[account.public_id])).content.decode()
    assert "vendor.relations@opendental.com" in body
    assert "- Reports: read" in body
    assert 'data-copy-target="email-body"' in body
    assert 'href="mailto:vendor.relations@opendental.com?subject=' in body
    assert "SELECT CustApiKey FROM apikey WHERE DevName=" in body
    assert "<script>" not in body and " onclick=" not in body
    assert "js/accounts.js" in body


def test_portal_request_page_escapes_dev_name(client, account, owner):
    account.dev_name = "</textarea><script>x</script>"
    account.save()
    client.force_login(owner)
    body = client.get(reverse("account_portal_request", args=[account.public_id])).content.decode()
    assert "<script>x</script>" not in body


def test_mark_as_requested(client, account, owner):
    client.force_login(owner)
    response = client.post(reverse("account_portal_request", args=[account.public_id]))
    account.refresh_from_db()
    assert response.status_code == 302
    assert account.portal_access == PortalAccess.REQUESTED


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        ("Acme", "'Acme'"),
        ("O'Brien Dental", "'O''Brien Dental'"),
        ("x' OR '1'='1", "'x'' OR ''1''=''1'"),
        ("back\\slash", "'back\\\\slash'"),
        ("\\' OR 1=1 -- ", "'\\\\'' OR 1=1 -- '"),
        ("Zahnärzte Ü 歯科 🦷", "'Zahnärzte Ü 歯科 🦷'"),
        ("", "''"),
        ("a\x00b", "CONCAT('a', CHAR(0), 'b')"),
        ("\x00", "CHAR(0)"),
        ("line\nbreak\x1a", "CONCAT('line', CHAR(10), 'break', CHAR(26))"),
        ("tab\tend", "CONCAT('tab', CHAR(9), 'end')"),
    ],
)
def test_mysql_string_literal(value, literal):
    assert mysql_string_literal(value) == literal


def _mysql_parse_literal(sql: str) -> tuple[str, str]:
    """Read one quoted MySQL string the way MySQL does; return (value, rest of the input)."""
    assert sql[0] == "'"
    out, i = [], 1
    while True:
        ch = sql[i]
        if ch == "\\":
            out.append(sql[i + 1])
            i += 2
        elif ch == "'" and sql[i + 1 : i + 2] == "'":
            out.append("'")
            i += 2
        elif ch == "'":
            return "".join(out), sql[i + 1 :]
        else:
            out.append(ch)
            i += 1


@given(st.text(alphabet=st.characters(min_codepoint=32, exclude_categories=["Cs"])))
def test_mysql_string_literal_reads_back_exactly_and_ends_where_it_should(value):
    value = value.replace("\x7f", "")
    literal = mysql_string_literal(value)
    parsed, rest = _mysql_parse_literal(literal + " AND 1=1")
    assert parsed == value
    assert rest == " AND 1=1"


def test_apikey_lookup_sql_quotes_the_dev_name():
    assert apikey_lookup_sql("x' OR '1'='1") == (
        "SELECT CustApiKey FROM apikey WHERE DevName='x'' OR ''1''=''1';"
    )
