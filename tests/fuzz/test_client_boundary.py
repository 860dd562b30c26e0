"""The Open Dental client at its boundary: whatever a server sends (wrong types, missing fields,
odd string booleans, huge pages, non-JSON, nested junk, bad headers), the client returns typed
objects or raises its own OpenDentalError subclasses, never KeyError/TypeError/ValueError/..."""

from __future__ import annotations

import contextlib
import json
from decimal import Decimal

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from integrations.offices.services.aging import recipe
from integrations.opendental import (
    BadResponse,
    DeveloperPortalClient,
    NullPacer,
    OpenDentalClient,
    OpenDentalError,
    models,
    parsing,
)

DEV, CUST, BASE = "DevKey0123456789", "CustKey012345678", "http://od.test/api/v1"
FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.sampled_from(
        ["true", "TRUE", " True ", "yes", "1", "0", "", "false\n", "fAlSe", "t", "null", "NaN"]
        + ["0001-01-01", "2024-02-30", "2024-01-01 25:00:00", "2024-01-01T00:00:00.1234567"]
        + ["１２３", "２０２４-０１-０１", "9999-12-31 23:59:59", "1e999", "-0"]
    ),
)
junk = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
MODELS = [
    (models.SecurityPerm, {"Permission": "ApiReadAll", "HasPermission": "true"}),
    (models.Preference, {"PrefNum": 1, "PrefName": "DateLastAging", "ValueString": "2024-01-01"}),
    (models.Clinic, {"ClinicNum": 1, "Description": "Main", "Abbr": "M", "IsHidden": "false"}),
    (models.Provider, {"ProvNum": 1, "Abbr": "DOC", "DateTStamp": "2024-01-01 10:00:00"}),
    (
        models.Patient,
        {
            "PatNum": 1,
            "LName": "A",
            "FName": "B",
            "PatStatus": "Patient",
            "Guarantor": 1,
            "ClinicNum": 0,
            "EstBalance": 1.5,
            "BalTotal": 2,
            "Birthdate": "1980-01-01",
        },
    ),  # fmt: skip
    (
        models.FamilyAging,
        {k: 1 for k in ("Bal_0_30", "Bal_31_60", "Bal_61_90", "BalOver90", "Total", "InsEst")}
        | {"EstBal": 0, "PatEstBal": 0, "Unearned": 0},
    ),
    (
        models.AgingReportRow,
        {"PatNum": 1, "patName": "X", "Bal_0_30": 1, "Bal_31_60": 0, "Bal_61_90": 0}
        | {"BalOver90": 0, "BalTotal": 1, "InsWoEst": 0, "InsPayEst": 0, "PatientPortion": 1},
    ),
    (
        models.ApiKey,
        {"CustomerKey": CUST, "KeyStatus": "Enabled", "DateCreated": "2024-01-01"},
    ),
]
OWN_ERRORS = (OpenDentalError,)


def _build(cls, data):
    return cls.from_json(data)


@pytest.mark.parametrize(("cls", "valid"), MODELS, ids=[m[0].__name__ for m in MODELS])
def test_valid_rows_parse(cls, valid):
    assert isinstance(_build(cls, valid), cls)


@pytest.mark.parametrize(("cls", "valid"), MODELS, ids=[m[0].__name__ for m in MODELS])
@FUZZ
@given(data=st.data())
def test_a_row_with_one_field_replaced_missing_or_added_parses_or_raises_bad_response(
    cls, valid, data
):
    row = dict(valid)
    field = data.draw(st.sampled_from(sorted(row)))
    action = data.draw(st.sampled_from(["replace", "delete", "add"]))
    if action == "replace":
        row[field] = data.draw(junk)
    elif action == "delete":
        del row[field]
    else:
        row[data.draw(st.text(max_size=10))] = data.draw(junk)
    with contextlib.suppress(BadResponse):
        assert isinstance(_build(cls, row), cls)


@pytest.mark.parametrize("cls", [m[0] for m in MODELS])
@FUZZ
@given(value=junk)
def test_any_json_value_as_a_row_parses_or_raises_bad_response(cls, value):
    with contextlib.suppress(BadResponse):
        _build(cls, value)


@FUZZ
@given(value=scalars)
@example(" tRuE ")
@example("yes")
@example(1)
@example(True)
def test_string_booleans_in_any_spelling_are_true_false_or_bad_response(value):
    try:
        result = parsing.parse_bool(value)
    except BadResponse:
        assert not (isinstance(value, str) and value.strip().lower() in ("true", "false"))
    else:
        assert result is (value.strip().lower() == "true")


@FUZZ
@given(body=st.one_of(st.binary(max_size=200), st.text(max_size=200)))
@example(b"")
@example(b"<html>oops</html>")
@example(b"\xef\xbb\xbf[]")
@example("[" * 100_000)
@example("1" * 5000)
@example("1e999999999")
@example('{"a": NaN}')
@example(b'[{"ClinicNum": 1e400}]')
def test_loads_returns_json_or_raises_bad_response(body):
    with contextlib.suppress(BadResponse):
        parsing.loads(body)


@pytest.mark.parametrize("text", ["1e999999999", "-1E+99999999", "1e5000"])
def test_huge_exponents_are_rejected_quickly_as_integers(text):
    with pytest.raises(BadResponse):
        parsing.parse_int(parsing.loads(text))
    with pytest.raises(BadResponse):
        models.Clinic.from_json(parsing.loads(f'{{"ClinicNum": {text}, "Description": ""}}'))


# --- the whole client over httpx.MockTransport ------------------------------------------------

statuses = st.sampled_from([200, 200, 200, 201, 204, 301, 400, 401, 404, 410, 418, 429, 500, 504])
bodies = st.one_of(
    junk.map(lambda v: json.dumps(v, default=str).encode()),
    st.binary(max_size=100),
    st.sampled_from([b"", b"null", b"<html>x</html>", b"[", b'{"x":', b"[]", b"{}", b"true"]),
    st.lists(st.fixed_dictionaries({}, optional={"ClinicNum": junk}), max_size=3).map(
        lambda v: json.dumps(v, default=str).encode()
    ),
)
headers = st.dictionaries(
    # Content-Encoding is left out here: see test_a_corrupt_compressed_body_is_a_bad_response.
    st.sampled_from(["Retry-After", "Content-Type", "X-Junk"]),
    st.sampled_from(
        ["1", "-1", "1e999", "nan", "Wed, 21 Oct 2015 07:28:00 GMT", "", "gzip", "br", "x"]
        # A charset the body does not decode in is left out: see test_an_error_body_in_...
        + ["application/json; charset=x-bogus", "text/html; charset=latin-1", "application/json"]
    ),
    max_size=3,
)
transport_errors = st.sampled_from(
    [
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("garbled"),
        httpx.ReadError("reset"),
        httpx.WriteError("broken pipe"),
    ]
)
CALLS = {
    "security_perms": lambda c: c.security_perms(),
    "granted_permissions": lambda c: c.granted_permissions(),
    "preferences": lambda c: c.preferences(),
    "preference": lambda c: c.preference("DateLastAging"),
    "clinics": lambda c: c.clinics(),
    "providers": lambda c: c.providers(),
    "patients_simple": lambda c: list(c.patients_simple()),
    "patient": lambda c: c.patient(1),
    "family_aging": lambda c: c.family_aging(1),
    "aging_report": lambda c: list(c.aging_report()),
    "short_query": lambda c: c.short_query("SELECT 1"),
}
PORTAL_CALLS = {
    "api_keys": lambda c: c.api_keys(),
    "api_key_create": lambda c: c.api_key_create(),
    "api_key_set_status": lambda c: c.api_key_set_status(CUST, "Enabled"),
}


def _transport(status, body, hdrs, error):
    def handler(request: httpx.Request) -> httpx.Response:
        if error is not None:
            raise error
        if request.url.params.get("Offset", "0") not in ("0", ""):
            return httpx.Response(200, content=b"[]")  # one page only: paging must end
        return httpx.Response(status, content=body, headers=hdrs)

    return httpx.Client(transport=httpx.MockTransport(handler))


def _client(cls, http):
    kwargs = {"http_client": http, "max_retries": 1, "sleep": lambda _s: None}
    if cls is OpenDentalClient:
        kwargs.update(pacer=NullPacer(), min_interval_s=0)
    return cls(BASE, DEV, CUST, **kwargs)


@pytest.mark.parametrize(
    ("cls", "name", "call"),
    [(OpenDentalClient, n, c) for n, c in CALLS.items()]
    + [(DeveloperPortalClient, n, c) for n, c in PORTAL_CALLS.items()],
    ids=[*CALLS, *PORTAL_CALLS],
)
@FUZZ
@given(
    status=statuses,
    body=bodies,
    hdrs=headers,
    error=st.one_of(st.none(), st.none(), st.none(), transport_errors),
)
def test_every_client_method_raises_only_its_own_errors(cls, name, call, status, body, hdrs, error):
    client = _client(cls, _transport(status, body, hdrs, error))
    try:
        call(client)
    except OWN_ERRORS as exc:
        assert DEV not in str(exc) and CUST not in f"{exc} {exc.body}"


def test_a_corrupt_compressed_body_is_a_bad_response():
    encoding = "gzip"
    client = _client(
        OpenDentalClient, _transport(200, b"\x00\x00", {"Content-Encoding": encoding}, None)
    )
    with pytest.raises(OpenDentalError):
        client.clinics()


def test_an_error_body_in_a_charset_it_does_not_decode_in_is_classified():
    hdrs = {"Content-Type": "text/plain; charset=utf-16"}
    client = _client(OpenDentalClient, _transport(500, b"odd", hdrs, None))
    with pytest.raises(OpenDentalError):
        client.clinics()


@pytest.mark.parametrize("rows", [10_000, 100_001])
def test_a_huge_page_is_parsed_or_rejected_without_crashing(rows):
    page = json.dumps([{"ClinicNum": i, "Description": "x" * 20} for i in range(rows)]).encode()
    client = _client(OpenDentalClient, _transport(200, page, {}, None))
    assert len(client.clinics()) == rows


@pytest.mark.parametrize(
    "body",
    [
        b'[{"PatNum": 1e999999999, "ClinicNum": 0, "EstBalance": 0}]',
        b"[" * 50_000 + b"]" * 50_000,
        b'[{"Permission": ' + b"1" * 5000 + b', "HasPermission": "true"}]',
    ],
)
def test_pathological_bodies_raise_bad_response(body):
    client = _client(OpenDentalClient, _transport(200, body, {}, None))
    with pytest.raises(BadResponse):
        client.security_perms()
    with pytest.raises(BadResponse):  # the aging recipe's rows, parsed as the product does
        recipe.rows_from_query(client.short_query(recipe.AGING_SQL, row_type=recipe.QueryRow))


def test_decimal_money_keeps_cents():
    row = models.AgingReportRow.from_json(
        parsing.loads(
            b'{"PatNum": 1, "patName": "x", "Bal_0_30": 0.1, "Bal_31_60": 0.2, "Bal_61_90": 0,'
            b' "BalOver90": 0, "BalTotal": 0.3, "InsWoEst": 0, "InsPayEst": 0,'
            b' "PatientPortion": 0}'
        )
    )
    assert row.bal_0_30 + row.bal_31_60 == row.bal_total == Decimal("0.3")
