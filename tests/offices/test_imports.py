"""Bulk import of offices and keys: service, command and upload page."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from integrations.accounts.models import AuditEvent
from integrations.offices.models import CustomerKey, KeyStatus, Office
from integrations.offices.services import imports
from integrations.offices.services.imports import offices_import
from odportal.lib import crypto
from tests.factories import CustomerKeyFactory, random_key

HEADER = "name,customer_key,api_mode,base_url,time_zone,reference,notes"


def _csv(*rows: str, header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


def test_csv_creates_offices_with_their_keys(account, owner, settings):
    settings.ODPORTAL_ALLOWED_NETWORKS = ["10.0.0.0/8"]  # the vendor's VPN
    k1, k2 = random_key(), random_key()
    source = _csv(
        f"North Clinic,{k1},remote,https://elsewhere.example/api/v1,America/Chicago,N-1,first",
        f"South Clinic,{k2},Local,http://10.0.0.5:30222/api/v1,America/Denver,,",
    )
    result = offices_import(
        account=account, actor=owner, source=source, filename="o.csv",
        confirmed_hosts={"10.0.0.5:30222"},
    )  # fmt: skip
    assert (result.created, result.skipped, result.rejected) == (2, 0, 0)
    north = Office.objects.get(account=account, name="North Clinic")
    assert north.reference == "N-1" and north.time_zone == "America/Chicago"
    # A Remote row goes to the deployment's Open Dental URL whatever its base_url says.
    assert north.base_url == "" and north.api_base_url == settings.OPENDENTAL_REMOTE_BASE_URL
    south = Office.objects.get(name="South Clinic")
    assert south.api_mode == "local" and south.base_url == "http://10.0.0.5:30222/api/v1"
    assert crypto.decrypt(south.keys.get(is_current=True).key_encrypted) == k2
    assert [r.key_last4 for r in result.rows] == [k1[-4:], k2[-4:]]
    finish = AuditEvent.objects.get(action="import.finish", account=account).detail
    assert (finish["filename"], finish["state"], finish["created"], finish["rejected"]) == (
        "o.csv", "done", 2, 0
    )  # fmt: skip


def test_duplicate_keys_are_skipped_also_within_the_file(account, owner):
    existing = CustomerKeyFactory(office__account=account, plaintext="AAAAbbbbCCCCdddd")
    fresh = random_key()
    source = _csv(
        "Again,AAAAbbbbCCCCdddd,remote,,,,",
        f"New,{fresh},remote,,,,",
        f"New twice,{fresh},remote,,,,",
    )
    result = offices_import(account=account, actor=owner, source=source)
    assert [r.outcome for r in result.rows] == ["skipped", "created", "skipped"]
    assert "already registered" in result.rows[0].messages[0]
    assert not Office.objects.filter(name__in=["Again", "New twice"]).exists()
    assert existing.office.keys.count() == 1


def test_invalid_rows_are_rejected_with_reasons_and_leave_nothing(account, owner):
    source = _csv(
        ",0123456789abcdef,remote,,,,",
        "Bad key,short,remote,,,,",
        f"Bad zone,{random_key()},remote,,Mars/Olympus,,",
        f"Bad mode,{random_key()},cloud,,,,",
        f"Bad url,{random_key()},service,https://example.com/,,,",
        f"Fine,{random_key()},remote,,,,",
    )
    result = offices_import(account=account, actor=owner, source=source)
    by_name = {r.name or "(blank)": r for r in result.rows}
    assert [r.outcome for r in result.rows] == ["rejected"] * 5 + ["created"]
    assert "name" in by_name["(blank)"].errors
    assert "customer_key" in by_name["Bad key"].errors
    assert "time_zone" in by_name["Bad zone"].errors
    assert "api_mode" in by_name["Bad mode"].errors
    assert "base_url" in by_name["Bad url"].errors
    assert list(Office.objects.filter(account=account).values_list("name", flat=True)) == ["Fine"]
    assert [r.number for r in result.rows] == [2, 3, 4, 5, 6, 7]


def test_row_failing_after_the_office_was_created_leaves_no_office(account, owner, monkeypatch):
    def fail(**kwargs):
        assert Office.objects.filter(name="Half").exists()  # the office was created first
        raise ValidationError({"customer_key": "Open Dental said no."})

    monkeypatch.setattr(imports.keys_service, "customer_key_add", fail)
    result = offices_import(account=account, actor=owner, source=_csv(f"Half,{random_key()},,,,,"))
    assert result.rows[0].outcome == "rejected"
    assert result.rows[0].errors == {"customer_key": ["Open Dental said no."]}
    assert not Office.objects.filter(name="Half").exists()
    assert not AuditEvent.objects.filter(action="office.create").exists()


def test_bom_semicolons_and_header_case_are_tolerated(account, owner):
    key = random_key()
    source = (
        "\ufeffName;Customer_Key;API_Mode;Base_URL;Time_Zone\n" + f"Ünïcode Dental;{key};remote;;\n"
    )
    result = offices_import(account=account, actor=owner, source=source.encode("utf-8"))
    assert result.format == "csv" and result.created == 1
    assert Office.objects.filter(name="Ünïcode Dental").exists()


def test_bom_bytes_with_commas(account, owner):
    source = b"\xef\xbb\xbf" + _csv(f"Bom Clinic,{random_key()},remote,,,,").encode()
    assert offices_import(account=account, actor=owner, source=source).created == 1


def test_unreadable_files_raise_validation_error(account, owner):
    for source in (b"", b"\xff\xfe\x00bad", "foo,bar\n1,2\n", "{not json", '{"x": 1}'):
        with pytest.raises(ValidationError):
            offices_import(account=account, actor=owner, source=source)


def _manifest(**extra) -> dict:
    return {
        "base_url": "http://127.0.0.1:8765/api/v1",
        "developer_key": random_key(),
        "developer_portal_key": random_key(),
        "dev_name": "Sandbox Dev",
        "offices": [
            {
                "name": "Sandbox Office 1",
                "customer_key": random_key(),
                "permissions": ["ApiReadAll"],
                "clinic_nums": [1, 2],
                "guarantors": 50,
                "key_status": "Enabled",
                "econnector_down": False,
                "mode": "Remote",
            },
            {
                "name": "Sandbox Office 2",
                "customer_key": random_key(),
                "permissions": [],
                "clinic_nums": [],
                "guarantors": 10,
                "key_status": "DisabledByCustomer",
                "econnector_down": True,
            },
            {"name": "Broken", "customer_key": "nope"},
        ],
        **extra,
    }


def test_manifest_offices_are_remote_with_their_key_status(account, owner, settings):
    manifest = _manifest()
    result = offices_import(
        account=account, actor=owner, source=json.dumps(manifest), filename="sandbox.json"
    )
    assert result.format == "manifest"
    assert [r.outcome for r in result.rows] == ["created", "created", "rejected"]
    offices = Office.objects.filter(account=account).order_by("name")
    # The manifest's base_url is not stored: Remote offices follow the deployment's setting.
    assert {(o.api_mode, o.base_url) for o in offices} == {("remote", "")}
    assert {o.api_base_url for o in offices} == {settings.OPENDENTAL_REMOTE_BASE_URL}
    key2 = CustomerKey.objects.get(office__name="Sandbox Office 2")
    assert key2.status == KeyStatus.DISABLED_BY_CUSTOMER


def test_base_url_override_is_for_service_rows_and_needs_their_host_confirmed(account, owner):
    manifest = _manifest()
    manifest["offices"][1]["mode"] = "Service"
    override = "http://127.0.0.2:9000/api/v1"
    first = offices_import(
        account=account, actor=owner, source=json.dumps(manifest), base_url_override=override
    )
    assert [r.outcome for r in first.rows] == ["created", "rejected", "rejected"]
    assert "127.0.0.2:9000" in first.rows[1].messages[0]
    assert first.hosts_to_confirm == {"127.0.0.2:9000"}
    again = offices_import(
        account=account, actor=owner, source=json.dumps(manifest), base_url_override=override,
        confirmed_hosts=first.hosts_to_confirm,
    )  # fmt: skip
    assert [r.outcome for r in again.rows] == ["skipped", "created", "rejected"]
    assert dict(Office.objects.values_list("name", "base_url")) == {
        "Sandbox Office 1": "",  # Remote: the override does not apply
        "Sandbox Office 2": override,
    }


def test_keys_never_appear_in_results(account, owner):
    keys = [random_key() for _ in range(3)]
    CustomerKeyFactory(office__account=account, plaintext=keys[0])
    source = _csv(
        f"Dup,{keys[0]},remote,,,,",
        f"Bad zone,{keys[1]},remote,,{keys[1]},,",
        f"Ok,{keys[2]},remote,,,,",
    )
    result = offices_import(account=account, actor=owner, source=source)
    text = repr(result) + " ".join(m for r in result.rows for m in r.messages)
    assert not any(k in text for k in keys)
    assert not any(k in json.dumps(e.detail) for e in AuditEvent.objects.all() for k in keys)


def test_command_prints_rows_and_summary(account, owner, tmp_path):
    key = random_key()
    path = tmp_path / "offices.csv"
    path.write_text(_csv(f"Cmd Clinic,{key},remote,,,,", "Bad,short,remote,,,,"))
    out = StringIO()
    call_command(
        "import_offices",
        str(path),
        "--account",
        str(account.public_id),
        "--user",
        "owner",
        stdout=out,
    )
    text = out.getvalue()
    assert f"row 2: created  Cmd Clinic key …{key[-4:]}" in text
    assert "row 3: rejected Bad" in text and "customer_key:" in text
    assert "2 rows: 1 created, 0 skipped, 1 rejected" in text
    assert key not in text
    assert AuditEvent.objects.get(action="import.finish").actor == owner


def test_command_finds_account_by_company_name(account, tmp_path):
    path = tmp_path / "m.json"
    path.write_text(json.dumps(_manifest()))
    out = StringIO()
    call_command("import_offices", str(path), "--account", account.company_name.upper(), stdout=out)
    assert "3 rows: 2 created, 0 skipped, 1 rejected" in out.getvalue()


def test_command_errors(account, tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("nothing useful\n")
    with pytest.raises(CommandError, match="No developer account"):
        call_command("import_offices", str(path), "--account", "nobody")
    with pytest.raises(CommandError, match="lacks name, customer_key"):
        call_command("import_offices", str(path), "--account", str(account.public_id))
    with pytest.raises(CommandError, match="Cannot read"):
        call_command(
            "import_offices", str(tmp_path / "missing.csv"), "--account", str(account.public_id)
        )


def test_a_manifest_nested_200000_deep_is_refused_with_a_message(account, owner):
    source = '{"offices": ' + "[" * 200_000 + "]" * 200_000 + "}"
    with pytest.raises(ValidationError, match="nested too deeply"):
        offices_import(account=account, actor=owner, source=source, filename="sandbox.json")
    assert not Office.objects.filter(account=account).exists()
