from datetime import date, datetime
from decimal import Decimal

import pytest

from integrations.opendental import (
    AgingReportRow,
    ApiKey,
    BadResponse,
    FamilyAging,
    Patient,
    SecurityPerm,
)
from integrations.opendental.parsing import (
    loads,
    parse_bool,
    parse_date,
    parse_datetime,
    parse_money,
)

PATIENT = {
    "PatNum": 12,
    "LName": "Smith",
    "FName": "Ann",
    "PatStatus": "Patient",
    "Guarantor": 12,
    "ClinicNum": 0,
    "EstBalance": Decimal("10.50"),
    "BalTotal": Decimal("120.25"),
    "Birthdate": "0001-01-01",
    "DateTStamp": "2024-03-05 14:22:01",
    "serverDateTime": "2024-03-06 09:00:00",
}


@pytest.mark.parametrize(
    ("raw", "expected"), [("true", True), ("false", False), ("True", True), ("FALSE", False)]
)
def test_string_booleans_parse_case_insensitively(raw, expected):
    assert parse_bool(raw) is expected


@pytest.mark.parametrize("raw", ["yes", "1", "", None, True, 1])
def test_anything_but_true_or_false_strings_is_a_bad_response(raw):
    with pytest.raises(BadResponse):
        parse_bool(raw)


def test_empty_dates_are_none():
    assert parse_date("0001-01-01") is None
    assert parse_datetime("0001-01-01 00:00:00") is None
    assert parse_datetime("0001-01-01T00:00:00") is None


def test_dates_and_datetimes_parse_in_both_open_dental_forms():
    assert parse_date("2024-02-29") == date(2024, 2, 29)
    assert parse_datetime("2024-02-29 13:04:05") == datetime(2024, 2, 29, 13, 4, 5)
    assert parse_datetime("2021-05-01T00:00:00") == datetime(2021, 5, 1)
    assert parse_date("2021-05-01T00:00:00") == date(2021, 5, 1)


@pytest.mark.parametrize("raw", ["2024-02-30", "02/01/2024", "", 20240101, "2024-01-01T10:00:00"])
def test_invalid_dates_are_bad_responses(raw):
    with pytest.raises(BadResponse):
        parse_date(raw)


def test_money_comes_from_json_numbers_as_exact_decimals():
    data = loads(b'{"a": 0.1, "b": 3, "c": -12.345}')
    assert parse_money(data["a"]) == Decimal("0.1")
    assert parse_money(data["b"]) == Decimal(3)
    assert parse_money(data["c"]) == Decimal("-12.345")


@pytest.mark.parametrize("raw", ["10.00", None, True, Decimal("NaN")])
def test_money_that_is_not_a_number_is_a_bad_response(raw):
    with pytest.raises(BadResponse):
        parse_money(raw)


@pytest.mark.parametrize(
    "body", [b"", b"   ", b'[{"PatNum": 1', b"<html><body>Error</body></html>", b"{'a': 1}"]
)
def test_malformed_truncated_or_html_bodies_are_transient_bad_responses(body):
    with pytest.raises(BadResponse) as info:
        loads(body)
    assert info.value.permanent is False


def test_patient_parses_into_a_frozen_typed_object():
    patient = Patient.from_json(PATIENT)
    assert patient.pat_num == 12
    assert patient.is_guarantor
    assert patient.est_balance == Decimal("10.50")
    assert patient.birthdate is None
    assert patient.date_t_stamp == datetime(2024, 3, 5, 14, 22, 1)
    with pytest.raises(AttributeError):
        patient.pat_num = 13  # type: ignore[misc]


@pytest.mark.parametrize("field", ["PatNum", "LName", "EstBalance", "Guarantor"])
def test_patient_missing_a_required_field_is_a_bad_response(field):
    data = {k: v for k, v in PATIENT.items() if k != field}
    with pytest.raises(BadResponse, match=field):
        Patient.from_json(data)


@pytest.mark.parametrize(
    ("field", "value"), [("PatNum", "12"), ("EstBalance", "10.50"), ("LName", None)]
)
def test_patient_field_of_the_wrong_type_is_a_bad_response(field, value):
    with pytest.raises(BadResponse, match=field):
        Patient.from_json({**PATIENT, field: value})


@pytest.mark.parametrize("data", [[], "x", None, 5])
def test_non_object_where_an_object_is_expected_is_a_bad_response(data):
    with pytest.raises(BadResponse):
        Patient.from_json(data)


def test_security_perm_parses_its_string_boolean():
    perm = SecurityPerm.from_json({"Permission": "ApiQueries", "HasPermission": "True"})
    assert perm == SecurityPerm("ApiQueries", True)


def test_family_aging_and_aging_report_rows_parse_money_fields():
    aging = FamilyAging.from_json(
        {
            "Bal_0_30": 1, "Bal_31_60": Decimal("2.5"), "Bal_61_90": 0, "BalOver90": 0,
            "Total": Decimal("3.5"), "InsEst": 0, "EstBal": Decimal("3.5"), "PatEstBal": 0,
            "Unearned": 0,
        }
    )  # fmt: skip
    assert aging.total == Decimal("3.5")
    row = AgingReportRow.from_json(
        {
            "PatNum": 5, "patName": "Doe, Jo", "Bal_0_30": 1, "Bal_31_60": 0, "Bal_61_90": 0,
            "BalOver90": 0, "BalTotal": 1, "InsWoEst": 0, "InsPayEst": 0, "PatientPortion": 1,
        }
    )  # fmt: skip
    assert row.patient_portion == Decimal(1)


def test_api_key_keeps_the_customer_key_out_of_its_repr():
    key = ApiKey.from_json(
        {
            "CustomerKey": "AbCdEfGhIjKlMnOp",
            "KeyStatus": "Enabled",
            "DateCreated": "2024-01-02",
            "DateDisabled": "0001-01-01",
            "DateTimeAssigned": "0001-01-01 00:00:00",
        }
    )
    assert key.date_disabled is None
    assert key.date_time_assigned is None
    assert key.last4 == "MnOp"
    assert "AbCdEfGh" not in repr(key)
