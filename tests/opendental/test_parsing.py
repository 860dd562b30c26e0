from datetime import date, datetime
from decimal import Decimal

import pytest

from integrations.opendental import (
    AgingReportRow,
    ApiKey,
    Appointment,
    BadResponse,
    Computer,
    FamilyAging,
    Patient,
    Provider,
    SecurityPerm,
    Subscription,
)
from integrations.opendental.parsing import (
    loads,
    parse_bool,
    parse_color,
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


# apiproviders.html, the list example's first row (one with ClinicNum: "serverDateTime": "").
DOC_PROVIDER = {
    "ProvNum": 1, "Abbr": "DOC1", "LName": "Albert", "FName": "Brian", "MI": "L", "Suffix": "",
    "FeeSched": 53, "Specialty": 263, "SSN": "1522864182", "StateLicense": "D7601",
    "IsSecondary": "false", "provColor": "164,255,164", "IsHidden": "false", "UsingTIN": "true",
    "SigOnFile": "true", "NationalProvID": "1679608723", "DateTStamp": "2021-08-04 08:33:01",
    "IsNotPerson": "false", "ProvStatus": "Active", "IsHiddenReport": "false",
    "Birthdate": "0001-01-01", "SchedNote": "", "PreferredName": "",
    "serverDateTime": "2021-08-31 12:05:31",
}  # fmt: skip


def test_provider_parses_the_documented_example():
    p = Provider.from_json(DOC_PROVIDER)
    assert (p.prov_num, p.abbr, p.prov_color, p.specialty) == (1, "DOC1", (164, 255, 164), 263)
    assert (p.using_tin, p.sig_on_file, p.is_not_person, p.is_hidden) == (True, True, False, False)
    assert p.birthdate is None  # 0001-01-01
    assert p.server_date_time == datetime(2021, 8, 31, 12, 5, 31)
    assert "1522864182" not in repr(p)  # the SSN/TIN is not kept


def test_provider_with_the_empty_server_date_time_of_a_clinic_filter():
    assert Provider.from_json({**DOC_PROVIDER, "serverDateTime": ""}).server_date_time is None
    assert Provider.from_json({"ProvNum": 2, "Abbr": "HYG1"}).server_date_time is None


def test_an_empty_date_time_is_refused_where_it_is_not_documented():
    with pytest.raises(BadResponse, match=r"Provider\.DateTStamp"):
        Provider.from_json({**DOC_PROVIDER, "DateTStamp": ""})


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("164,164,255", (164, 164, 255)), (" 1, 2 ,3 ", (1, 2, 3)),
     (-16777216 + 0xA4A4FF, (164, 164, 255)), (0xFF0000, (255, 0, 0)),
     (Decimal(255), (0, 0, 255))],
)  # fmt: skip
def test_colours_parse_as_rgb_strings_or_argb_integers(raw, expected):
    assert parse_color(raw) == expected


@pytest.mark.parametrize("raw", ["256,0,0", "1,2", "red", "", True, None, 2**40, Decimal("1.5")])
def test_anything_else_is_not_a_colour(raw):
    with pytest.raises(BadResponse):
        parse_color(raw)


# apiappointments.html, the single GET's example (plus TimeLocked and InsPlan, live captures).
DOC_APPOINTMENT = {
    "serverDateTime": "2021-05-04 09:32:45", "AptNum": 18, "PatNum": 17,
    "AptStatus": "Scheduled", "Pattern": "//XXXX//", "Confirmed": 19, "confirmed": "Not Called",
    "TimeLocked": "false", "Op": 3, "Note": "", "ProvNum": 1, "provAbbr": "DOC1", "ProvHyg": 0,
    "AptDateTime": "2020-07-31 08:30:00", "NextAptNum": 0, "UnschedStatus": 0,
    "unschedStatus": "", "IsNewPatient": "false", "ProcDescript": "Seal, Seal", "ClinicNum": 0,
    "IsHygiene": "false", "DateTStamp": "2021-05-03 08:30:12",
    "DateTimeArrived": "0001-01-01 00:00:00", "DateTimeSeated": "0001-01-01 00:00:00",
    "DateTimeDismissed": "0001-01-01 00:00:00", "InsPlan1": 0, "InsPlan2": 0,
    "DateTimeAskedToArrive": "0001-01-01 00:00:00", "colorOverride": "0,0,0",
    "AppointmentTypeNum": 0, "SecDateTEntry": "2020-07-04 09:12:05", "Priority": "Normal",
    "PatternSecondary": "//////X/",
}  # fmt: skip


def test_appointment_parses_the_documented_example():
    a = Appointment.from_json(DOC_APPOINTMENT)
    assert (a.apt_num, a.pat_num, a.apt_status, a.op) == (18, 17, "Scheduled", 3)
    assert a.apt_date_time == datetime(2020, 7, 31, 8, 30)
    assert (a.confirmed, a.confirmed_label, a.time_locked) == (19, "Not Called", False)
    assert a.date_time_arrived is None and a.color_override is None  # 0001-01-01, "0,0,0"
    assert a.server_date_time == datetime(2021, 5, 4, 9, 32, 45)


def test_appointment_colour_and_flags_read_as_sent():
    a = Appointment.from_json(
        {**DOC_APPOINTMENT, "colorOverride": "116,73,194", "IsNewPatient": "true"}
    )
    assert (a.color_override, a.is_new_patient) == ((116, 73, 194), True)
    with pytest.raises(BadResponse, match=r"Appointment\.TimeLocked"):
        Appointment.from_json({**DOC_APPOINTMENT, "TimeLocked": "no"})


def test_subscription_parses_the_documented_example_and_hides_the_key():
    s = Subscription.from_json(
        {
            "SubscriptionNum": 1, "EndPointUrl": "https://myserver/apievents/",
            "Workstation": "MOLLYR", "CustomerKey": "VzkmZEaUWOjnQX2z",
            "WatchTable": "Appointment", "PollingSeconds": 5, "UiEventType": "",
            "DateTimeStart": "2022-11-28 15:04:31", "DateTimeStop": "0001-01-01 00:00:00",
            "Note": "",
        }
    )  # fmt: skip
    assert (s.subscription_num, s.watch_table, s.polling_seconds) == (1, "Appointment", 5)
    assert s.date_time_start == datetime(2022, 11, 28, 15, 4, 31) and s.date_time_stop is None
    assert s.customer_key == "VzkmZEaUWOjnQX2z" and "VzkmZEaUWOjnQX2z" not in repr(s)


def test_computer_parses_with_its_heartbeat():
    c = Computer.from_json(
        {"ComputerNum": 3, "CompName": "FRONTDESK", "LastHeartBeat": "2023-01-05 10:15:30"}
    )
    assert (c.computer_num, c.comp_name) == (3, "FRONTDESK")
    assert c.last_heart_beat == datetime(2023, 1, 5, 10, 15, 30)
