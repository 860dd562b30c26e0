"""Hostile input to the account forms, the key and office services and the offices import:
unicode, very long values, control characters, HTML and SQL, BOMs, wrong delimiters and
encodings, duplicate rows. Each ends in a clear field or row error, never a crash, and nothing
is half-written (rows are counted before and after)."""

from __future__ import annotations

import csv
import io
import json
import string

import pytest
from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from integrations.accounts.forms import DeveloperAccountForm
from integrations.accounts.models import AuditEvent, DeveloperAccount
from integrations.accounts.services import accounts
from integrations.offices.models import CustomerKey, Office
from integrations.offices.services import imports, keys, offices
from integrations.opendental.network import base_url_host
from odportal.lib.forms import service_errors_to_form
from tests.factories import OfficeFactory

pytestmark = pytest.mark.django_db
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
ALNUM = string.ascii_letters + string.digits
NASTY = [
    "<script>alert(1)</script>",
    "\"'><img src=x onerror=alert(1)>",
    "'; DROP TABLE offices_office; --",
    "1' OR '1'='1",
    "\ufeffBOM name",
    "\u202eRTL override",
    "zero\u200bwidth",
    "Zoë Ærø 医院 🦷",
    "tab\there\r\nnewline",
    "\x00nul",
    "\x1b[31mansi",
    "x" * 5000,
    "",
    " ",
    '=HYPERLINK("http://evil")',
]
texts = st.one_of(st.sampled_from(NASTY), st.text(max_size=300))
valid_keys = st.text(alphabet=ALNUM, min_size=16, max_size=16)
keyish = st.one_of(
    valid_keys,
    valid_keys.map(lambda k: f" {k}\n"),
    valid_keys.map(lambda k: k[:15] + "é"),
    valid_keys.map(lambda k: k + "0"),
    st.text(max_size=40),
    st.sampled_from(["０１２３４５６７８９ＡＢＣＤＥＦ", "A" * 15 + "\x00", "A" * 16 + "\n"]),
)


def _counts() -> tuple[int, ...]:
    return (
        DeveloperAccount.objects.count(),
        Office.objects.count(),
        CustomerKey.objects.count(),
        AuditEvent.objects.count(),
    )


# --- account forms -----------------------------------------------------------------------


@FUZZ
@given(
    data=st.fixed_dictionaries(
        {
            "company_name": texts,
            "contact_phone": texts,
            "billing_email": st.one_of(texts, st.emails()),
            "billing_address": texts,
            "third_party_developer_name": texts,
            "third_party_developer_email": texts,
            "app_description": texts,
            "dev_name": texts,
            "portal_access": st.sampled_from(["not_requested", "granted", "bogus", ""]),
            "developer_key": keyish,
            "portal_key": keyish,
        }
    )
)
@example(data={k: "<script>alert(1)</script>" for k in ("company_name", "dev_name")})
def test_account_form_gives_field_errors_or_creates_exactly_one_account(owner, data):
    before = _counts()
    form = DeveloperAccountForm(data)
    created = None
    if form.is_valid():
        try:
            created = accounts.developer_account_create(actor=owner, **form.service_kwargs())
        except ValidationError as exc:
            service_errors_to_form(form, exc)
    after = _counts()
    if created is None:
        assert form.errors and after == before
        assert all(isinstance(m, str) and m for ms in form.errors.values() for m in ms)
    else:
        assert after[0] == before[0] + 1
        for secret in ("developer_key", "portal_key"):
            plain = form.cleaned_data.get(secret) or ""
            assert plain not in str(form.errors) or not plain
            stored = getattr(created, f"{secret}_encrypted")
            assert plain == "" or plain not in stored


@FUZZ
@given(developer_key=keyish)
def test_a_bad_developer_key_is_a_field_error_and_leaves_the_account_unchanged(
    owner, account, developer_key
):
    account.refresh_from_db()
    encrypted = account.developer_key_encrypted
    try:
        accounts.developer_account_update(account=account, actor=owner, developer_key=developer_key)
    except ValidationError as exc:
        assert set(exc.message_dict) == {"developer_key"}
        stripped = developer_key.strip()
        assert len(stripped) < 5 or stripped not in " ".join(exc.messages)
        account.refresh_from_db()
        assert account.developer_key_encrypted == encrypted
    else:
        assert len(developer_key.strip()) in (0, 16)


# --- key and office services -------------------------------------------------------------


@FUZZ
@given(raw=keyish)
def test_customer_key_add_accepts_only_16_ascii_letters_and_digits(owner, raw):
    office = OfficeFactory()
    before = _counts()
    try:
        key = keys.customer_key_add(office=office, key=raw, actor=owner)
    except ValidationError as exc:
        assert set(exc.message_dict) == {"customer_key"}
        assert _counts() == before
        stripped = raw.strip()
        assert len(stripped) < 5 or stripped not in " ".join(exc.messages)
    else:
        stripped = raw.strip()
        assert len(stripped) == 16 and all(c in ALNUM for c in stripped)
        assert key.last4 == stripped[-4:] and stripped not in key.key_encrypted
        assert _counts()[2] == before[2] + 1


def _printable(value: str) -> str:
    # NUL cannot be stored by Postgres; see test_office_create_refuses_nul_as_a_field_error.
    return value.replace("\x00", "")


@FUZZ
@given(
    name=texts.map(_printable),
    reference=texts.map(_printable),
    notes=texts.map(_printable),
    time_zone=st.one_of(st.sampled_from(["UTC", "America/Chicago", "Mars/Base", ""]), texts),
    api_mode=st.sampled_from(["remote", "service", "local"]),
    base_url=st.one_of(
        st.sampled_from(
            [
                "",
                "http://127.0.0.1:9/api/v1",
                "javascript:alert(1)",
                "http://127.0.0.1/api/v1/",
                "http://127.0.0.1/?x=/api/v1",
                "http://u:p@127.0.0.1/api/v1",
            ]
        ),
        texts,
    ),  # fmt: skip
)
def test_office_create_gives_field_errors_or_one_office(
    owner, account, name, reference, notes, time_zone, api_mode, base_url
):
    before = _counts()
    base_url = _printable(base_url)
    try:
        office = offices.office_create(
            account=account,
            actor=owner,
            name=name,
            reference=reference,
            notes=notes,
            time_zone=_printable(time_zone),
            api_mode=api_mode,
            base_url=base_url,
            confirmed_host=base_url_host(base_url.strip()),
        )
    except ValidationError as exc:
        assert exc.message_dict and all(exc.message_dict.values())
        assert _counts() == before
    else:
        assert office.name == name and office.api_base_url.endswith("/api/v1")
        assert _counts()[1] == before[1] + 1


def test_office_create_refuses_nul_as_a_field_error(owner, account):
    before = _counts()
    with pytest.raises(ValidationError):
        offices.office_create(account=account, actor=owner, name="Nul\x00Office", time_zone="UTC")
    assert _counts() == before


# --- offices import ---------------------------------------------------------------------

rows = st.lists(
    st.fixed_dictionaries(
        {
            "name": texts,
            "customer_key": keyish,
            "api_mode": st.sampled_from(["remote", "Remote", "LOCAL", "svc", ""]),
            "base_url": st.sampled_from(
                ["", "http://127.0.0.1:9/api/v1", "ftp://x", "nope", "http://x/#/api/v1"]
            ),
            "time_zone": st.sampled_from(["", "UTC", "Europe/Paris", "Nowhere/Land"]),
            "reference": st.sampled_from(["", "R1", "R1", "R2", "<b>r</b>"]),
        }
    ),
    max_size=6,
)


def _csv(records, delimiter: str, header_case: str) -> str:
    out = io.StringIO()
    columns = ["name", "customer_key", "api_mode", "base_url", "time_zone", "reference"]
    writer = csv.writer(out, delimiter=delimiter)
    writer.writerow([getattr(c, header_case)() for c in columns])
    for record in records:
        writer.writerow([record[c] for c in columns])
    return out.getvalue()


def _assert_import_consistent(account, owner, source, filename):
    before = _counts()
    try:
        result = imports.offices_import(
            account=account, actor=owner, source=source, filename=filename
        )
    except ValidationError as exc:
        assert exc.messages and all(exc.messages)
        assert _counts() == before  # an unreadable file leaves nothing behind
        return None
    after = _counts()
    assert after[1] - before[1] == result.created  # offices
    assert after[2] - before[2] == result.created  # each with exactly its key
    assert not Office.objects.filter(account=account, keys__isnull=True).exists()
    for row in result.rows:
        assert row.outcome in ("created", "skipped", "rejected")
        if row.outcome != "created":
            assert row.messages and all(row.messages)
        assert len(row.key_last4) in (0, 4)
    return result


@FUZZ
@given(
    records=rows,
    delimiter=st.sampled_from([",", ";", "\t", "|"]),
    header_case=st.sampled_from(["lower", "upper", "title"]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1", "cp1252"]),
    duplicate=st.booleans(),
)
@example(records=[], delimiter=",", header_case="lower", encoding="utf-8", duplicate=False)
def test_csv_import_reports_each_row_and_never_half_imports(
    owner, account, records, delimiter, header_case, encoding, duplicate
):
    if duplicate and records:
        records = [*records, records[0]]
    text = _csv(records, delimiter, header_case)
    try:
        source = text.encode(encoding)
    except UnicodeEncodeError:
        source = text.encode("utf-8", errors="surrogatepass")
    _assert_import_consistent(account, owner, source, "offices.csv")


@FUZZ
@given(
    payload=st.one_of(
        st.binary(max_size=300),
        st.text(max_size=300).map(str.encode),
        st.recursive(
            st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20)),
            lambda inner: (
                st.lists(inner, max_size=4)
                | st.dictionaries(
                    st.sampled_from(["offices", "base_url", "name", "customer_key", "mode", "x"]),
                    inner,
                    max_size=4,
                )
            ),
            max_leaves=15,
        ).map(lambda v: json.dumps(v).encode()),
    )
)
@example(payload=b"\xef\xbb\xbf" + b"name;customer_key\nA;" + b"B" * 16)
@example(
    payload=b'{"offices": [{"name": "x", "customer_key": "' + b"K" * 16 + b'"}], "base_url": 5}'
)
def test_any_upload_is_imported_row_by_row_or_refused_as_a_whole(owner, account, payload):
    _assert_import_consistent(account, owner, payload, "upload.json")
    _assert_import_consistent(account, owner, payload, "upload.csv")


def test_a_duplicate_key_in_one_file_is_skipped_and_only_the_first_row_creates(owner, account):
    key = "DupKey0123456789"
    text = f"name,customer_key\nFirst,{key}\nSecond,{key}\n"
    result = _assert_import_consistent(account, owner, text.encode(), "dup.csv")
    assert [r.outcome for r in result.rows] == ["created", "skipped"]
    assert key not in " ".join(result.rows[1].messages)


def test_a_row_with_a_duplicate_reference_is_rejected_without_an_orphan_key(owner, account):
    text = "name,customer_key,reference\nA,KeyA012345678901,R\nB,KeyB012345678901,R\n"
    result = _assert_import_consistent(account, owner, text.encode(), "ref.csv")
    assert [r.outcome for r in result.rows] == ["created", "rejected"]
    assert not CustomerKey.objects.filter(last4="8901", office__name="B").exists()
    assert CustomerKey.objects.filter(office__account=account).count() == 1


def test_a_nul_character_in_a_cell_is_a_clear_field_error(owner, account):
    text = (
        "name,customer_key,notes\nNul\x00Office,KeyN012345678901,ok\nGood,KeyG012345678901,a\x00b\n"
    )
    result = _assert_import_consistent(account, owner, text.encode(), "nul.csv")
    assert [r.outcome for r in result.rows] == ["rejected", "rejected"]
    assert result.rows[0].errors == {"name": ["Contains a NUL (\\x00) character."]}
    assert result.rows[1].errors == {"notes": ["Contains a NUL (\\x00) character."]}
