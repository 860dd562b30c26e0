"""The sandbox's schedule and chart over real HTTP: appointments (read, write, confirm),
operatories, procedures, procedure codes, a single provider and the computers' heartbeats."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime

import httpx
import pytest

from odsandbox.config import OfficeSpec, SandboxConfig
from odsandbox.testing import RunningSandbox, running_sandbox
from tests.helpers import SandboxApi

# The live field list of the facts file (section 11), in its order.
APPOINTMENT_FIELDS = [
    "serverDateTime", "AptNum", "PatNum", "AptStatus", "Pattern", "Confirmed", "confirmed",
    "TimeLocked", "Op", "Note", "ProvNum", "provAbbr", "ProvHyg", "AptDateTime", "NextAptNum",
    "UnschedStatus", "unschedStatus", "IsNewPatient", "ProcDescript", "ClinicNum", "IsHygiene",
    "DateTStamp", "DateTimeArrived", "DateTimeSeated", "DateTimeDismissed", "InsPlan1",
    "InsPlan2", "DateTimeAskedToArrive", "colorOverride", "AppointmentTypeNum",
    "SecUserNumEntry", "SecDateTEntry", "Priority", "PatternSecondary", "ItemOrderPlanned",
]  # fmt: skip
OPERATORY_FIELDS = [
    "OperatoryNum", "OpName", "Abbrev", "ItemOrder", "IsHidden", "ProvDentist", "ProvHygienist",
    "IsHygiene", "ClinicNum", "SetProspective", "IsWebSched", "OperatoryType", "operatoryType",
]  # fmt: skip
DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
BOOLS = {"true", "false"}
WRITE_OFFICE = 2


def _all_pages(api: SandboxApi, path: str, limit: int = 100, **params: object) -> list[dict]:
    rows: list[dict] = []
    while True:
        page = api.get(path, params={**params, "Offset": len(rows), "Limit": limit}).json()
        rows.extend(page)
        if len(page) < limit:
            return rows


def _store(sandbox: RunningSandbox, index: int = 0):  # noqa: ANN202 - OfficeStore
    return sandbox.state.offices[index].store


def test_appointment_rows_carry_the_live_field_list_in_order(api: SandboxApi) -> None:
    rows = api.get("/appointments").json()
    assert len(rows) == 100
    for row in rows:
        assert list(row) == APPOINTMENT_FIELDS
        assert row["TimeLocked"] in BOOLS and row["IsHygiene"] in BOOLS
        assert row["IsNewPatient"] in BOOLS
        assert row["AptStatus"] in ("Scheduled", "Complete", "UnschedList", "ASAP", "Broken",
                                    "Planned")  # fmt: skip
        assert DATETIME.match(row["AptDateTime"]) and DATETIME.match(row["DateTStamp"])
        assert DATETIME.match(row["DateTimeArrived"]) and DATETIME.match(row["serverDateTime"])
        assert re.fullmatch(r"\d{1,3},\d{1,3},\d{1,3}", row["colorOverride"])
        assert row["Priority"] in ("Normal", "ASAP")
        assert set(row["Pattern"]) <= {"X", "/"}
        assert len(row["PatternSecondary"]) == len(row["Pattern"])


def test_single_appointment_has_the_same_fields_and_404_when_absent(api: SandboxApi) -> None:
    listed = api.get("/appointments", params={"Limit": 3}).json()[2]
    single = api.get(f"/appointments/{listed['AptNum']}").json()
    missing = api.get("/appointments/99999999")
    assert list(single) == APPOINTMENT_FIELDS
    assert {k: v for k, v in single.items() if k != "serverDateTime"} == {
        k: v for k, v in listed.items() if k != "serverDateTime"
    }
    assert (missing.status_code, missing.text) == (404, "Appointment not found.")


def test_appointments_ignore_unknown_parameters_and_take_lowercase_paging(
    api: SandboxApi,
) -> None:
    ten = api.get("/appointments", params={"Limit": 10}).json()
    lenient = api.get("/appointments", params={"fields": "AptNum,PatNum", "limit": 5, "offset": 5})
    assert lenient.status_code == 200
    assert [r["AptNum"] for r in lenient.json()] == [r["AptNum"] for r in ten[5:]]


def test_patients_multiple_rejects_unknown_parameters_and_datetstamp(api: SandboxApi) -> None:
    stamp = api.get("/patients", params={"DateTStamp": "2024-01-01 00:00:00"})
    fields = api.get("/patients", params={"fields": "PatNum"})
    assert (stamp.status_code, stamp.text) == (400, "'DateTStamp' is not a valid parameter.")
    assert (fields.status_code, fields.text) == (400, "'fields' is not a valid parameter.")


def test_appointment_pages_cover_every_appointment_once_in_aptnum_order(
    sandbox: RunningSandbox, api: SandboxApi
) -> None:
    expected = _store(sandbox).fetch("SELECT AptNum FROM appointment ORDER BY AptNum")
    rows = _all_pages(api, "/appointments", limit=70)
    assert len(expected) > 140
    assert [r["AptNum"] for r in rows] == [r["AptNum"] for r in expected]


def test_appointment_filters(sandbox: RunningSandbox, api: SandboxApi) -> None:
    store = _store(sandbox)
    some = store.fetch("SELECT * FROM appointment WHERE AptStatus = 2 ORDER BY AptNum LIMIT 1")[0]
    day = some["AptDateTime"][:10]
    on_day = api.get("/appointments", params={"date": day}).json()
    ranged = _all_pages(api, "/appointments", dateStart=day, dateEnd=day)
    broken = _all_pages(api, "/appointments", AptStatus="Broken")
    mine = api.get("/appointments", params={"PatNum": some["PatNum"]}).json()
    in_op = _all_pages(api, "/appointments", Op=some["Op"])
    in_clinic = _all_pages(api, "/appointments", ClinicNum=some["ClinicNum"])
    stamp = some["DateTStamp"]
    changed = _all_pages(api, "/appointments", DateTStamp=stamp)
    sql_day = store.fetch("SELECT COUNT(*) AS n FROM appointment WHERE AptDateTime LIKE ?",
                          (f"{day}%",))[0]["n"]  # fmt: skip
    assert len(on_day) == len(ranged) == sql_day > 0
    assert all(r["AptDateTime"].startswith(day) for r in on_day)
    assert broken and {r["AptStatus"] for r in broken} == {"Broken"}
    assert mine and {r["PatNum"] for r in mine} == {some["PatNum"]}
    assert {r["Op"] for r in in_op} == {some["Op"]}
    assert {r["ClinicNum"] for r in in_clinic} == {some["ClinicNum"]}
    assert changed and all(r["DateTStamp"] >= stamp for r in changed)
    assert api.get("/appointments", params={"AptStatus": "Cancelled"}).status_code == 400
    assert api.get("/appointments", params={"dateStart": "yesterday"}).status_code == 400


def test_schedule_is_business_hours_and_statuses_follow_the_calendar(
    sandbox: RunningSandbox,
) -> None:
    store = _store(sandbox)
    today = date.today().isoformat()
    rows = store.fetch("SELECT AptDateTime, AptStatus, Pattern FROM appointment")
    past = {r["AptStatus"] for r in rows if r["AptDateTime"] < today}
    future = {r["AptStatus"] for r in rows if r["AptDateTime"] >= today}
    assert past <= {2, 3, 5} and 2 in past  # Complete, UnschedList, Broken
    assert future <= {1, 4, 6} and 1 in future  # Scheduled, ASAP, Planned
    for r in rows:
        start = datetime.fromisoformat(r["AptDateTime"])
        end_minute = start.hour * 60 + start.minute + len(r["Pattern"]) * 5
        assert start.weekday() < 5 and start.hour >= 8 and end_minute <= 17 * 60
    days = sorted(r["AptDateTime"][:10] for r in rows)
    assert days[0] < f"{date.today().year - 1}-{date.today():%m-%d}" < today < days[-1]
    unscheduled_chair = store.fetch(
        "SELECT COUNT(*) AS n FROM appointment a WHERE a.Op <> 0 AND NOT EXISTS (SELECT 1 FROM "
        "schedule s JOIN scheduleop o ON o.ScheduleNum = s.ScheduleNum WHERE o.OperatoryNum = "
        "a.Op AND s.SchedDate = substr(a.AptDateTime, 1, 10) AND s.SchedType = 1)"
    )[0]["n"]
    assert unscheduled_chair == 0  # every booked chair has a provider schedule that day
    elsewhere = store.fetch(
        "SELECT COUNT(*) AS n FROM appointment a WHERE NOT EXISTS (SELECT 1 FROM providerclinic "
        "pc WHERE pc.ProvNum = a.ProvNum AND pc.ClinicNum = a.ClinicNum)"
    )[0]["n"]
    assert elsewhere == 0  # dentists see patients at the clinics they work at


def test_completed_appointments_have_complete_procedures_on_their_day(
    sandbox: RunningSandbox, api: SandboxApi
) -> None:
    apt = api.get("/appointments", params={"AptStatus": "Complete", "Limit": 1}).json()[0]
    procs = api.get("/procedurelogs", params={"AptNum": apt["AptNum"]}).json()
    assert procs and {p["ProcStatus"] for p in procs} == {"C"}
    assert {p["ProcDate"] for p in procs} == {apt["AptDateTime"][:10]}
    assert {p["PatNum"] for p in procs} == {apt["PatNum"]}
    abbrevs = {r["ProcCode"]: r["AbbrDesc"] for r in api.get("/procedurecodes").json()}
    assert apt["ProcDescript"] == ", ".join(abbrevs[p["procCode"]] for p in procs)


def test_procedurelogs_fields_and_filters(sandbox: RunningSandbox, api: SandboxApi) -> None:
    first = api.get("/procedurelogs", params={"Limit": 1}).json()[0]
    mine = _all_pages(api, "/procedurelogs", PatNum=first["PatNum"])
    planned = _all_pages(api, "/procedurelogs", ProcStatus="TP")
    expected = _store(sandbox).fetch(
        "SELECT ProcNum FROM procedurelog WHERE PatNum = ? ORDER BY ProcNum", (first["PatNum"],)
    )
    assert list(first)[:5] == ["ProcNum", "PatNum", "AptNum", "ProcDate", "ProcFee"]
    assert list(first)[-1] == "serverDateTime"
    assert re.fullmatch(r"\d+\.\d{2}", first["ProcFee"])
    assert first["HideGraphics"] in BOOLS and first["IsLocked"] in BOOLS
    assert DATE.match(first["ProcDate"]) and DATETIME.match(first["DateTStamp"])
    assert [p["ProcNum"] for p in mine] == [r["ProcNum"] for r in expected]
    assert planned and {p["ProcStatus"] for p in planned} == {"TP"}
    assert {p["ProcDate"] for p in planned} == {"0001-01-01"}
    assert api.get("/procedurelogs", params={"ProcStatus": "Done"}).status_code == 400


def test_procedure_codes_are_cdt_codes_with_string_booleans(api: SandboxApi) -> None:
    codes = api.get("/procedurecodes").json()
    by_code = {c["ProcCode"]: c for c in codes}
    assert {"D0120", "D0150", "D0274", "D1110", "D1120", "D2391", "D2740", "D4341"} <= set(by_code)
    assert by_code["D1110"]["IsHygiene"] == "true" and by_code["D2391"]["IsHygiene"] == "false"
    assert by_code["D0120"]["procCat"] == "Exams & Xrays"
    assert by_code["D2391"]["TreatArea"] == "Surf"
    assert api.get("/procedurecodes", params={"DateTStamp": "2999-01-01 00:00:00"}).json() == []


def test_operatories_carry_the_live_row_and_filter_by_clinic(api: SandboxApi) -> None:
    ops = api.get("/operatories").json()
    clinic = ops[0]["ClinicNum"]
    in_clinic = api.get("/operatories", params={"ClinicNum": clinic}).json()
    assert ops and all(list(op) == OPERATORY_FIELDS for op in ops)
    assert all(op["IsHidden"] in BOOLS and op["IsHygiene"] in BOOLS for op in ops)
    assert {op["IsHygiene"] for op in ops} == BOOLS
    assert in_clinic and {op["ClinicNum"] for op in in_clinic} == {clinic}
    assert len(in_clinic) < len(ops)


def test_single_provider_and_404(api: SandboxApi) -> None:
    listed = {p["ProvNum"]: p for p in api.get("/providers").json()}
    one = api.get("/providers/2").json()
    missing = api.get("/providers/999")
    assert one["ProvNum"] == 2 and one["Abbr"] == listed[2]["Abbr"]
    assert "serverDateTime" in one
    assert (missing.status_code, missing.text) == (404, "Provider not found.")


# --- writes --------------------------------------------------------------------------------


@pytest.fixture
def writer(sandbox: RunningSandbox) -> Iterator[SandboxApi]:
    """Office 2 with the ApiAppointments permission (restored afterwards)."""
    office = sandbox.manifest["offices"][WRITE_OFFICE]
    key = office["customer_key"]
    sandbox.state.set_permissions(key, (*office["permissions"], "ApiAppointments"))
    yield SandboxApi(sandbox.base_url, sandbox.manifest["developer_key"], key)
    sandbox.state.set_permissions(key, tuple(office["permissions"]))


def _new_appointment(writer: SandboxApi, sandbox: RunningSandbox) -> httpx.Response:
    store = _store(sandbox, WRITE_OFFICE)
    patient = store.fetch("SELECT PatNum FROM patient WHERE PatStatus = 0 LIMIT 1")[0]["PatNum"]
    op = store.fetch("SELECT OperatoryNum FROM operatory WHERE IsHidden = 0 LIMIT 1")[0]
    body = {"PatNum": patient, "Op": op["OperatoryNum"], "AptDateTime": "2030-03-04 09:30:00",
            "Pattern": "//XXXX//", "Note": "test", "colorOverride": "100,0,255"}  # fmt: skip
    return writer.request("POST", "/appointments", json=body)


def test_appointment_post_put_and_confirm_round_trip(
    sandbox: RunningSandbox, writer: SandboxApi
) -> None:
    before = datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    created = _new_appointment(writer, sandbox)
    apt = created.json()
    url = f"/appointments/{apt['AptNum']}"
    assert created.status_code == 201
    assert created.headers["location"].endswith(f"/api/v1{url}")
    assert (apt["AptStatus"], apt["Pattern"], apt["PatternSecondary"]) == (
        "Scheduled", "//XXXX//", "////////"
    )  # fmt: skip
    assert (apt["colorOverride"], apt["confirmed"]) == ("100,0,255", "Not Called")
    assert apt["DateTStamp"] >= before
    updated = writer.request("PUT", url, json={"Note": "moved", "IsHygiene": "true"})
    confirmed = writer.request("PUT", f"{url}/Confirm", json={"confirmVal": "Confirmed"})
    after = writer.get(url).json()
    assert updated.status_code == 200 and confirmed.status_code == 200
    assert (after["Note"], after["IsHygiene"], after["confirmed"]) == (
        "moved", "true", "Appointment Confirmed"
    )  # fmt: skip
    unchanged = ("AptDateTime", "Op", "PatNum", "Pattern", "colorOverride", "ProvNum")
    assert {k: after[k] for k in unchanged} == {k: apt[k] for k in unchanged}
    changed = _all_pages(writer, "/appointments", DateTStamp=before)
    assert apt["AptNum"] in {r["AptNum"] for r in changed}
    by_def = writer.request("PUT", f"{url}/Confirm", json={"defNum": 22})
    assert by_def.status_code == 200 and writer.get(url).json()["confirmed"] == "Left Message"


def test_appointment_writes_validate_with_explanations(
    sandbox: RunningSandbox, writer: SandboxApi
) -> None:
    apt = _new_appointment(writer, sandbox).json()
    url = f"/appointments/{apt['AptNum']}"
    cases = [
        ("POST", "/appointments", {"PatNum": apt["PatNum"], "Op": apt["Op"]}, 400,
         "AptDateTime is required."),
        ("POST", "/appointments", {"PatNum": 99999999, "Op": apt["Op"],
                                   "AptDateTime": "2030-01-01 08:00:00"}, 404,
         "Patient not found."),
        ("PUT", url, {"AptDateTime": "2030-13-01 08:00"}, 400,
         "AptDateTime must be in yyyy-MM-dd HH:mm:ss format."),
        ("PUT", url, {"Pattern": "//ab//"}, 400,
         "Pattern must consist of 'X' and '/' characters only."),
        ("PUT", url, {"AptStatus": "Cancelled"}, 400, None),
        ("PUT", url, {"Op": 99999}, 400, "Op is invalid."),
        ("PUT", "/appointments/99999999", {"Note": "x"}, 404, "Appointment not found."),
        ("PUT", f"{url}/Confirm", {"confirmVal": "Confirmed", "defNum": 21}, 400, None),
        ("PUT", f"{url}/Confirm", {"defNum": 38}, 400, None),  # a billing type, not Category 2
        ("PUT", f"{url}/Confirm", {"confirmVal": "Maybe"}, 400, None),
    ]  # fmt: skip
    for method, path, body, status, text in cases:
        r = writer.request(method, path, json=body)
        assert r.status_code == status, (path, body, r.text)
        assert text is None or r.text == text


def test_appointment_writes_need_the_appointments_permission(
    office_api: Callable[[int], SandboxApi],
) -> None:
    reader = office_api(WRITE_OFFICE)
    r = reader.request("PUT", "/appointments/1/Confirm", json={"confirmVal": "Sent"})
    assert r.status_code == 401 and "ApiAppointments" in r.text


def test_completing_an_appointment_completes_its_procedures(
    sandbox: RunningSandbox, writer: SandboxApi
) -> None:
    store = _store(sandbox, WRITE_OFFICE)
    apt_num = store.fetch(
        "SELECT a.AptNum FROM appointment a JOIN procedurelog p ON p.AptNum = a.AptNum "
        "WHERE a.AptStatus = 1 LIMIT 1"
    )[0]["AptNum"]
    r = writer.request("PUT", f"/appointments/{apt_num}", json={"AptStatus": "Complete"})
    procs = writer.get("/procedurelogs", params={"AptNum": apt_num}).json()
    assert r.status_code == 200 and r.json()["AptStatus"] == "Complete"
    assert procs and {p["ProcStatus"] for p in procs} == {"C"}


# --- computers -----------------------------------------------------------------------------


def _beats(base_url: str, headers: dict[str, str]) -> dict[str, str]:
    rows = httpx.get(f"{base_url}/computers", headers=headers).json()
    return {r["CompName"]: r["LastHeartBeat"] for r in rows}


def test_computer_heartbeats_stop_while_the_econnector_is_down() -> None:
    spec = OfficeSpec("Service Office", guarantors=3, mode="Service")
    with running_sandbox(SandboxConfig(office_specs=[spec], control=True)) as sb:
        cust = sb.manifest["offices"][0]["customer_key"]
        headers = {"Content-Type": "application/json",
                   "Authorization": f"ODFHIR {sb.manifest['developer_key']}/{cust}"}  # fmt: skip
        running = _beats(sb.base_url, headers)
        time.sleep(1.1)
        still_running = _beats(sb.base_url, headers)
        httpx.post(f"{sb.control_url}/offices/{cust}/faults", json={"econnector_down": True})
        down_at = datetime.now().replace(microsecond=0)
        frozen = _beats(sb.base_url, headers)
        time.sleep(1.1)
        frozen_later = _beats(sb.base_url, headers)
        httpx.post(f"{sb.control_url}/offices/{cust}/faults", json={"reset": True})
        time.sleep(1.1)
        resumed = _beats(sb.base_url, headers)
    now = datetime.now()
    assert (now - datetime.fromisoformat(running["ODSERVER"])).total_seconds() < 60
    assert still_running["ODSERVER"] > running["ODSERVER"]
    assert (now - datetime.fromisoformat(running["OLDLAPTOP"])).days > 7  # switched off
    assert frozen == frozen_later
    assert frozen["ODSERVER"] <= down_at.isoformat(" ")
    assert resumed["ODSERVER"] > frozen["ODSERVER"]
    assert resumed["OLDLAPTOP"] == running["OLDLAPTOP"]


# --- the tables behind them ----------------------------------------------------------------


def test_practice_tables_declare_open_dentals_date_and_datetime_types(
    sandbox: RunningSandbox,
) -> None:
    store = _store(sandbox)
    declared = {
        (table, c["name"]): c["type"]
        for table in ("appointment", "procedurelog", "inssub", "patplan", "computer", "schedule")
        for c in store.fetch(f"PRAGMA table_info({table})")
    }
    assert declared[("appointment", "AptDateTime")] == "DATETIME"
    assert declared[("appointment", "DateTStamp")] == "DATETIME"
    assert declared[("procedurelog", "ProcDate")] == "DATE"
    assert declared[("procedurelog", "ProcFee")] == "REAL"
    assert declared[("inssub", "DateEffective")] == "DATE"
    assert declared[("patplan", "SecDateTEdit")] == "DATETIME"
    assert declared[("computer", "LastHeartBeat")] == "DATETIME"
    assert declared[("schedule", "SchedDate")] == "DATE"
    assert declared[("appointment", "Note")] == "TEXT"


def test_short_query_joins_appointments_procedures_and_patients(
    sandbox: RunningSandbox, api: SandboxApi
) -> None:
    sql = (
        "SELECT a.AptNum, p.LName, SUM(l.ProcFee) AS fees FROM appointment a "
        "JOIN patient p ON p.PatNum = a.PatNum JOIN procedurelog l ON l.AptNum = a.AptNum "
        "WHERE a.AptStatus = 2 GROUP BY a.AptNum, p.LName ORDER BY a.AptNum"
    )
    rows = api.query(sql).json()
    first = api.get(f"/appointments/{rows[0]['AptNum']}").json()
    procs = api.get("/procedurelogs", params={"AptNum": first["AptNum"]}).json()
    assert len(rows) == 100 and first["AptStatus"] == "Complete"
    assert round(rows[0]["fees"], 2) == round(sum(float(p["ProcFee"]) for p in procs), 2)
