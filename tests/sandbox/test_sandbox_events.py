"""Patient writes, subscriptions and API Events delivery, over real HTTP.

The events tests run a real HTTP receiver on loopback (a threaded ``http.server``) and let the
sandbox's own delivery loop POST to it; PollingSeconds is 1 or 2 and the loop ticks every 50 ms.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from odsandbox.config import OfficeSpec, SandboxConfig
from odsandbox.testing import RunningSandbox, running_sandbox
from tests.helpers import SandboxApi

STAMP = "%Y-%m-%d %H:%M:%S"
SUBSCRIPTION_KEYS = [
    "SubscriptionNum",
    "EndPointUrl",
    "Workstation",
    "CustomerKey",
    "WatchTable",
    "PollingSeconds",
    "UiEventType",
    "DateTimeStart",
    "DateTimeStop",
    "Note",
]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningSandbox]:
    """Office 0 may write patients and has ~2,000 of them; office 1 only reads."""
    config = SandboxConfig(
        office_specs=[
            OfficeSpec("Events Dental", 700, ("ApiReadAll", "ApiPatients"), clinics=2),
            OfficeSpec("Read Only Dental", 10),
        ],
        seed=11,
        throttle_scale=0.0,
        control=True,
        events_tick_s=0.05,
        events_timeout_s=1.0,
    )
    with running_sandbox(config) as running:
        yield running


def _key(sandbox: RunningSandbox, index: int = 0) -> str:
    return sandbox.manifest["offices"][index]["customer_key"]


@pytest.fixture
def api(sandbox: RunningSandbox) -> Iterator[SandboxApi]:
    """Office 0; its subscriptions and faults are cleared afterwards."""
    client = SandboxApi(sandbox.base_url, sandbox.manifest["developer_key"], _key(sandbox))
    yield client
    for sub in client.get("/subscriptions").json():
        client.request("DELETE", f"/subscriptions/{sub['SubscriptionNum']}")
    sandbox.state.reset_faults(_key(sandbox))


@dataclass
class Call:
    at: float
    headers: dict[str, str]
    body: Any


@dataclass
class Receiver:
    """A loopback webhook endpoint recording every POST; ``status`` is what it answers."""

    status: int = 200
    calls: list[Call] = field(default_factory=list)
    port: int = 0
    _server: ThreadingHTTPServer | None = None

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.calls.append(Call(time.monotonic(), dict(self.headers), json.loads(raw)))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        server = self._server
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()
        self._server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/apievents/"

    def wait_for(self, count: int, timeout: float = 8.0) -> list[Call]:
        deadline = time.monotonic() + timeout
        while len(self.calls) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return list(self.calls)

    def rows(self) -> list[dict[str, Any]]:
        return [row for call in self.calls for row in call.body]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver().start()
    yield running
    if running._server is not None:
        running.stop()


def _subscribe(api: SandboxApi, url: str, table: str = "Patient", seconds: int = 1) -> dict:
    """A WatchTable subscription starting at a fresh second, after every earlier test's stamps."""
    time.sleep(1.02 - time.time() % 1)
    r = api.request(
        "POST",
        "/subscriptions",
        json={"EndPointUrl": url, "WatchTable": table, "PollingSeconds": seconds},
    )
    assert r.status_code == 201, r.text
    return r.json()


def _touch(sandbox: RunningSandbox, table: str = "patient", **body: Any) -> list[int]:
    r = httpx.post(
        f"{sandbox.control_url}/offices/{_key(sandbox)}/touch", json={"table": table, **body}
    )
    assert r.status_code == 200, r.text
    return r.json()["PKs"]


def _subscription(api: SandboxApi, num: int) -> dict:
    return next(s for s in api.get("/subscriptions").json() if s["SubscriptionNum"] == num)


# --- patients POST / PUT -----------------------------------------------------------------------


def test_post_patient_answers_201_with_the_full_patient_and_its_location(api: SandboxApi) -> None:
    before = datetime.now().replace(microsecond=0)
    r = api.request(
        "POST",
        "/patients",
        json={"LName": "Quill", "FName": "Ada", "Gender": "Female", "Birthdate": "1990-02-03"},
    )
    created = r.json()
    assert r.status_code == 201
    assert r.headers["Location"] == f"{api.http.base_url}patients/{created['PatNum']}"
    assert api.get(f"/patients/{created['PatNum']}").json() == created
    assert (created["LName"], created["Gender"], created["Birthdate"]) == (
        "Quill",
        "Female",
        "1990-02-03",
    )
    assert created["Guarantor"] == created["PatNum"]
    assert (created["PatStatus"], created["Position"], created["TxtMsgOk"]) == (
        "Patient",
        "Single",
        "Unknown",
    )
    assert datetime.strptime(created["DateTStamp"], STAMP) >= before


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"FName": "Ada"}, "LName is required."),
        ({}, "LName and FName are required."),
        ({"LName": " ", "FName": "Ada"}, "LName cannot be blank."),
        ({"LName": "Q", "FName": "A", "Gender": "Robot"}, "Gender must be one of: "),
        ({"LName": "Q", "FName": "A", "PatStatus": "Deleted"}, "PatStatus must be one of: "),
        ({"LName": "Q", "FName": "A", "Birthdate": "03/02/1990"}, "Birthdate must be a date"),
        ({"LName": "Q", "FName": "A", "PriProv": 999}, "PriProv 999 does not exist."),
        ({"LName": "Q", "FName": "A", "Zip": "9730"}, "Zip must be in format"),
        ({"LName": "Q", "FName": "A", "BillingType": "Gold"}, "BillingType must be one of: "),
    ],
)
def test_post_patient_explains_a_bad_body(api: SandboxApi, body: dict, message: str) -> None:
    r = api.request("POST", "/patients", json=body)
    assert r.status_code == 400
    assert r.text.startswith(message)


def test_post_patient_refuses_a_duplicate_of_name_birthdate_and_contact(api: SandboxApi) -> None:
    person = {"LName": "Dupont", "FName": "Marie", "Birthdate": "1970-01-01"}
    first = api.request("POST", "/patients", json={**person, "WirelessPhone": "(503) 555-0101"})
    same_phone = api.request("POST", "/patients", json={**person, "HmPhone": "503.555.0101"})
    other_contact = api.request("POST", "/patients", json={**person, "Email": "m@example.com"})
    assert first.status_code == 201
    assert (same_phone.status_code, same_phone.text) == (
        400,
        f"Patient already exists (PatNum {first.json()['PatNum']}).",
    )
    assert other_contact.status_code == 201


def test_put_patient_changes_only_given_fields_and_empty_string_clears(api: SandboxApi) -> None:
    body = {"LName": "Vance", "FName": "Eli", "Email": "eli@example.com", "City": "Salem"}
    created = api.request("POST", "/patients", json=body).json()
    r = api.request(
        "PUT", f"/patients/{created['PatNum']}", json={"City": "", "Position": "Married"}
    )
    updated = r.json()
    assert r.status_code == 200
    assert (updated["City"], updated["Position"], updated["Email"]) == (
        "",
        "Married",
        body["Email"],
    )
    assert updated["DateTStamp"] >= created["DateTStamp"]
    assert api.get(f"/patients/{created['PatNum']}").json() == updated


def test_put_patient_errors(sandbox: RunningSandbox, api: SandboxApi) -> None:
    store = sandbox.state.office_for(_key(sandbox)).store
    deleted = store.fetch("SELECT PatNum FROM patient WHERE PatStatus = 4 LIMIT 1")[0]["PatNum"]
    missing = api.request("PUT", "/patients/999999", json={"City": "Bend"})
    bad_enum = api.request("PUT", "/patients/1", json={"TxtMsgOk": "Maybe"})
    blank_name = api.request("PUT", "/patients/1", json={"FName": ""})
    not_json = api.request("PUT", "/patients/1", content=b"{City: Bend}")
    not_object = api.request("PUT", "/patients/1", json=["City"])
    of_deleted = api.request("PUT", f"/patients/{deleted}", json={"City": "Bend"})
    assert (missing.status_code, missing.text) == (404, "Patient not found.")
    assert (bad_enum.status_code, blank_name.status_code) == (400, 400)
    assert (not_json.status_code, not_json.text) == (400, "Request body is not valid JSON.")
    assert (not_object.status_code, not_object.text) == (400, "Request body must be a JSON object.")
    assert (of_deleted.status_code, of_deleted.text) == (
        400,
        "Patient is deleted and cannot be modified.",
    )


def test_patient_writes_need_the_api_patients_permission(sandbox: RunningSandbox) -> None:
    reader = SandboxApi(sandbox.base_url, sandbox.manifest["developer_key"], _key(sandbox, 1))
    r = reader.request("POST", "/patients", json={"LName": "No", "FName": "Way"})
    assert (r.status_code, r.text) == (
        401,
        "Customer key does not have the ApiPatients permission.",
    )
    assert reader.request("PUT", "/patients/1", json={"City": "X"}).status_code == 401


# --- subscriptions -----------------------------------------------------------------------------


def test_subscription_crud_belongs_to_the_calling_key(
    sandbox: RunningSandbox, api: SandboxApi
) -> None:
    created = api.request(
        "POST",
        "/subscriptions",
        json={
            "EndPointUrl": "http://127.0.0.1:9/x",
            "Workstation": "MOLLYR",
            "WatchTable": "Appointment",
            "PollingSeconds": 5,
            "DateTimeStart": "2022-01-31",
        },
    )
    sub = created.json()
    assert created.status_code == 201
    assert list(sub) == SUBSCRIPTION_KEYS
    assert sub["CustomerKey"] == _key(sandbox)
    assert (sub["DateTimeStart"], sub["DateTimeStop"], sub["UiEventType"]) == (
        "2022-01-31 00:00:00",
        "0001-01-01 00:00:00",
        "",
    )
    other_key = sandbox.state.create_key().customer_key
    sandbox.state.assign_key(other_key, _key(sandbox))
    other = SandboxApi(sandbox.base_url, sandbox.manifest["developer_key"], other_key)
    num = sub["SubscriptionNum"]
    assert other.get("/subscriptions").json() == []
    assert other.request("DELETE", f"/subscriptions/{num}").status_code == 404
    put = api.request("PUT", f"/subscriptions/{num}", json={"PollingSeconds": 30, "Note": "n"})
    assert put.status_code == 200
    assert api.get("/subscriptions").json() == [{**sub, "PollingSeconds": 30, "Note": "n"}]
    assert api.request("DELETE", f"/subscriptions/{num}").status_code == 200
    assert api.get("/subscriptions").json() == []
    assert api.request("PUT", f"/subscriptions/{num}", json={"Note": "x"}).status_code == 404


def test_a_ui_event_subscription_has_no_polling(api: SandboxApi) -> None:
    body = {"EndPointUrl": "http://localhost:2097/", "UiEventType": "PatientSelected"}
    sub = api.request("POST", "/subscriptions", json=body).json()
    assert (sub["WatchTable"], sub["PollingSeconds"], sub["UiEventType"]) == (
        "",
        0,
        "PatientSelected",
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"WatchTable": "Patient", "PollingSeconds": 5}, "EndPointUrl is required."),
        ({"EndPointUrl": "ftp://x/", "WatchTable": "Patient", "PollingSeconds": 5}, "EndPointUrl"),
        ({"EndPointUrl": "http://x/", "WatchTable": "Claim", "PollingSeconds": 5}, "WatchTable"),
        ({"EndPointUrl": "http://x/", "WatchTable": "Patient"}, "PollingSeconds is required"),
        ({"EndPointUrl": "http://x/", "WatchTable": "Patient", "PollingSeconds": 0}, "Polling"),
        ({"EndPointUrl": "http://x/", "WatchTable": "Patient", "PollingSeconds": -3}, "Polling"),
        ({"EndPointUrl": "http://x/"}, "Either WatchTable"),
        (
            {"EndPointUrl": "http://x/", "WatchTable": "Patient", "UiEventType": "PatientSelected"},
            "Either WatchTable",
        ),
        (
            {"EndPointUrl": "http://x/", "UiEventType": "PatientSelected", "PollingSeconds": 5},
            "PollingSeconds can only be set",
        ),
        ({"EndPointUrl": "http://x/", "UiEventType": "Clicked"}, "UiEventType must be one of"),
    ],
)
def test_subscription_post_validation(api: SandboxApi, body: dict, message: str) -> None:
    r = api.request("POST", "/subscriptions", json=body)
    assert r.status_code == 400
    assert r.text.startswith(message)
    assert api.get("/subscriptions").json() == []


# --- API Events delivery -----------------------------------------------------------------------


def test_changed_rows_arrive_in_batches_of_1000_with_the_documented_headers(
    sandbox: RunningSandbox, api: SandboxApi, receiver: Receiver
) -> None:
    sub = _subscribe(api, receiver.url)
    time.sleep(1.02 - time.time() % 1)  # the poll that delivers is a second after the start
    touched = _touch(sandbox, count=1500)
    calls = receiver.wait_for(2)
    assert sorted(len(c.body) for c in calls) == [500, 1000]
    assert sorted(row["PatNum"] for row in receiver.rows()) == touched
    for call in calls:
        assert call.headers["Authorization"] == _key(sandbox)
        assert call.headers["Workstation"] == "ODSANDBOX-WS1"
        assert call.headers["Event-Type"] == "WatchTable: Patient"
    sample = calls[0].body[0]
    assert sample == api.get(f"/patients/{sample['PatNum']}").json()
    moved = _subscription(api, sub["SubscriptionNum"])["DateTimeStart"]
    assert moved > sub["DateTimeStart"]


def test_events_fire_at_most_once_per_interval_and_not_without_changes(
    sandbox: RunningSandbox, api: SandboxApi, receiver: Receiver
) -> None:
    _subscribe(api, receiver.url, seconds=2)  # polls at about 0, 2, 4, 6 s from now
    start = time.monotonic()
    while time.monotonic() - start < 3.2:  # a change every 0.25 s
        _touch(sandbox, PKs=[7])
        time.sleep(0.25)
    calls = _quiet(receiver)  # the changes drained: a whole interval and more without a call
    gaps = [b.at - a.at for a, b in zip(calls, calls[1:], strict=False)]
    # Changes every 0.25 s for 3.2 s at a 2 s interval: a few calls, however slow the machine.
    assert 1 <= len(calls) <= 4
    assert (
        min(gaps, default=2.0) > 1.5
    )  # a change every 0.25 s, a tick every 0.05 s: only the interval spaces them
    time.sleep(2.5)  # more polls, nothing changed since: nothing is sent
    assert len(receiver.calls) == len(calls)


def _quiet(receiver: Receiver, interval_s: float = 2.0, timeout_s: float = 20.0) -> list:
    """The receiver's calls once none has come for longer than an interval."""
    deadline = time.monotonic() + timeout_s
    seen = len(receiver.calls)
    while time.monotonic() < deadline:
        time.sleep(interval_s + 0.6)
        if len(receiver.calls) == seen:
            return list(receiver.calls)
        seen = len(receiver.calls)
    raise AssertionError(f"calls kept coming for {timeout_s} s: {len(receiver.calls)}")


def test_nothing_is_delivered_while_the_workstation_is_off(
    sandbox: RunningSandbox, api: SandboxApi, receiver: Receiver
) -> None:
    sub = _subscribe(api, receiver.url)
    sandbox.state.set_faults(_key(sandbox), workstation_off=True)
    touched = _touch(sandbox, count=3)
    time.sleep(2.5)
    assert receiver.calls == []
    assert _subscription(api, sub["SubscriptionNum"])["DateTimeStart"] == sub["DateTimeStart"]
    r = httpx.post(
        f"{sandbox.control_url}/offices/{_key(sandbox)}/faults", json={"workstation_off": False}
    )
    assert r.json()["workstation_off"] is False
    receiver.wait_for(1)
    assert [row["PatNum"] for row in receiver.rows()] == touched


@pytest.mark.parametrize("failure", ["stopped", "status_500"])
def test_a_failing_endpoint_holds_date_time_start_and_later_gets_the_held_back_rows(
    sandbox: RunningSandbox, api: SandboxApi, receiver: Receiver, failure: str
) -> None:
    sub = _subscribe(api, receiver.url)
    if failure == "stopped":
        receiver.stop()
    else:
        receiver.status = 500
    touched = _touch(sandbox, count=4)
    time.sleep(2.5)
    assert _subscription(api, sub["SubscriptionNum"])["DateTimeStart"] == sub["DateTimeStart"]
    tried = [[row["PatNum"] for row in call.body] for call in receiver.calls]
    assert tried == [] if failure == "stopped" else tried == [touched] * len(tried) != []
    receiver.status = 200
    receiver.calls.clear()
    if failure == "stopped":
        receiver.start()  # same port
    calls = receiver.wait_for(1)
    assert [row["PatNum"] for row in calls[0].body] == touched
    time.sleep(1.5)
    assert len(receiver.calls) == 1


def test_a_late_delivery_reaches_back_at_most_three_days(
    sandbox: RunningSandbox, api: SandboxApi, receiver: Receiver
) -> None:
    sub = _subscribe(api, receiver.url)
    now = datetime.now()
    ten_days_ago = (now - timedelta(days=10)).strftime(STAMP)
    three_days_ago = (now - timedelta(days=3)).strftime(STAMP)
    store = sandbox.state.office_for(_key(sandbox)).store
    older = store.fetch(
        "SELECT PatNum FROM patient WHERE DateTStamp >= ? AND DateTStamp < ?",
        (ten_days_ago, three_days_ago),
    )
    recent = store.fetch("SELECT PatNum FROM patient WHERE DateTStamp >= ?", (three_days_ago,))
    api.request(
        "PUT", f"/subscriptions/{sub['SubscriptionNum']}", json={"DateTimeStart": ten_days_ago}
    )
    receiver.wait_for(-(-len(recent) // 1000))  # batches of 1000
    delivered = {row["PatNum"] for row in receiver.rows()}
    assert older  # the generated data has changes 3-10 days old, and they are not sent
    assert delivered == {r["PatNum"] for r in recent}


def test_provider_changes_fire_provider_events(
    sandbox: RunningSandbox, api: SandboxApi, receiver: Receiver
) -> None:
    _subscribe(api, receiver.url, table="Provider")
    touched = _touch(sandbox, table="provider", PKs=[2, 3])
    call = receiver.wait_for(1)[0]
    listed = {p["ProvNum"]: p for p in api.get("/providers").json()}
    assert call.headers["Event-Type"] == "WatchTable: Provider"
    assert [row["ProvNum"] for row in call.body] == touched
    assert call.body[0] == {k: v for k, v in listed[2].items() if k != "serverDateTime"}


def test_appointment_and_operatory_changes_fire_their_events(
    sandbox: RunningSandbox, api: SandboxApi, receiver: Receiver
) -> None:
    _subscribe(api, receiver.url, table="Appointment")
    _subscribe(api, receiver.url, table="Operatory")
    apts = _touch(sandbox, table="appointment", PKs=[5, 9])
    ops = _touch(sandbox, table="operatory", PKs=[1])
    calls = {c.headers["Event-Type"]: c for c in receiver.wait_for(2)}
    apt_call, op_call = calls["WatchTable: Appointment"], calls["WatchTable: Operatory"]
    assert [row["AptNum"] for row in apt_call.body] == apts
    single = api.get("/appointments/5").json()
    assert apt_call.body[0] == {k: v for k, v in single.items() if k != "serverDateTime"}
    listed = {o["OperatoryNum"]: o for o in api.get("/operatories").json()}
    assert op_call.body == [listed[n] for n in ops]


def test_patient_writes_fire_patient_events(api: SandboxApi, receiver: Receiver) -> None:
    _subscribe(api, receiver.url)
    created = api.request("POST", "/patients", json={"LName": "Event", "FName": "Eve"}).json()
    call = receiver.wait_for(1)[0]
    assert call.body == [created]


def test_touch_refuses_a_table_that_is_not_watched(sandbox: RunningSandbox) -> None:
    r = httpx.post(
        f"{sandbox.control_url}/offices/{_key(sandbox)}/touch", json={"table": "clinic", "count": 1}
    )
    assert r.status_code == 400
    assert r.text.startswith("table must be one of: patient, provider, appointment, operatory")


def test_only_the_guarantor_hands_the_family_on_and_its_aging_moves_along(
    sandbox: RunningSandbox, api: SandboxApi
) -> None:
    store = sandbox.state.office_for(_key(sandbox)).store
    head, first, second = store.fetch(
        "SELECT PatNum, BalTotal FROM patient WHERE Guarantor = (SELECT Guarantor FROM patient "
        "WHERE BalTotal <> 0 AND Guarantor IN (SELECT Guarantor FROM patient WHERE "
        "PatStatus <> 4 GROUP BY Guarantor HAVING COUNT(*) >= 3) LIMIT 1) ORDER BY PatNum LIMIT 3"
    )

    def family_totals() -> dict:  # EstBalance is each patient's own, so it stays behind
        return {k: v for k, v in store.aging_totals()["all"].items() if k != "EstBalance"}

    totals = family_totals()
    by_member = api.request(
        "PUT", f"/patients/{first['PatNum']}", json={"Guarantor": second["PatNum"]}
    )
    by_head = api.request("PUT", f"/patients/{head['PatNum']}", json={"Guarantor": first["PatNum"]})
    family = store.fetch(
        "SELECT Guarantor FROM patient WHERE PatNum IN (?, ?, ?)",
        (head["PatNum"], first["PatNum"], second["PatNum"]),
    )
    assert (by_member.status_code, by_member.text) == (
        400,
        "Only the family's guarantor can make another member guarantor.",
    )
    assert by_head.status_code == 200, by_head.text
    assert {r["Guarantor"] for r in family} == {first["PatNum"]}
    assert api.get(f"/accountmodules/{second['PatNum']}/Aging").json()["Total"] == head["BalTotal"]
    assert family_totals() == totals


def test_subscriptions_in_a_data_dir_fire_after_a_restart_before_any_request(
    tmp_path: Path, receiver: Receiver
) -> None:
    config = SandboxConfig(
        office_specs=[OfficeSpec("Kept Dental", 20)],
        data_dir=str(tmp_path),
        throttle_scale=0.0,
        events_tick_s=0.05,
    )
    with running_sandbox(config) as first:
        dev, key = first.manifest["developer_key"], _key(first)
        _subscribe(SandboxApi(first.base_url, dev, key), receiver.url)
        path = first.state.office_for(key).store.path
    with sqlite3.connect(path) as conn:  # a change while the sandbox was down
        conn.execute("UPDATE patient SET DateTStamp = ? WHERE PatNum = 3", (_now(),))
    conn.close()
    with running_sandbox(config):
        calls = receiver.wait_for(1)
    assert [row["PatNum"] for row in calls[0].body] == [3]


def _now() -> str:
    return datetime.now().strftime(STAMP)


def test_an_expired_subscription_does_not_fire(
    sandbox: RunningSandbox, api: SandboxApi, receiver: Receiver
) -> None:
    body = {"EndPointUrl": receiver.url, "WatchTable": "Patient", "PollingSeconds": 1}
    r = api.request("POST", "/subscriptions", json={**body, "DateTimeStop": _now()})
    _touch(sandbox, count=2)
    time.sleep(2.2)
    assert r.json()["DateTimeStop"] <= _now()
    assert receiver.calls == []
