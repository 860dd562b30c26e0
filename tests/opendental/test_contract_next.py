"""The client's appointments, computers and subscriptions calls against the live sandbox.

Each test skips, saying so, if the sandbox it runs against answers 404 to its route (an
older sandbox); the sandbox here serves them all.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta

import httpx
import pytest

from integrations.opendental import Appointment, NotFound
from tests.helpers import contract_office
from tests.opendental.test_client_async import run
from tests.opendental.test_contract import make_client


def _route_missing(sandbox, http: httpx.Client, path: str) -> bool:
    """True when the sandbox has no such route (the catch-all's bare 'Not found.')."""
    key = contract_office(sandbox, "Paid Clinics")["customer_key"]
    headers = {
        "Authorization": f"ODFHIR {sandbox.manifest['developer_key']}/{key}",
        "Content-Type": "application/json",
    }
    response = http.get(f"{sandbox.base_url}{path}", headers=headers)
    return response.status_code == 404 and response.text == "Not found."


@pytest.fixture(scope="module")
def paid(sandbox):
    return make_client(sandbox, "Paid Clinics")


@pytest.fixture(scope="module")
def appointments_route(sandbox, http):
    if _route_missing(sandbox, http, "/appointments"):
        pytest.skip("GET /appointments answers 404: it lands with h16-data")


@pytest.fixture(scope="module")
def computers_route(sandbox, http):
    if _route_missing(sandbox, http, "/computers"):
        pytest.skip("GET /computers answers 404: it lands with h16-data")


@pytest.fixture(scope="module")
def subscriptions_route(sandbox, http):
    if _route_missing(sandbox, http, "/subscriptions"):
        pytest.skip("GET /subscriptions answers 404: it lands with the subscriptions branch")


def test_appointments_page_through_and_match_the_single_get(paid, appointments_route):
    rows = list(paid.appointments(page_size=50))
    assert len(rows) > 50  # more than one page
    assert len({a.apt_num for a in rows}) == len(rows)
    assert all(isinstance(a, Appointment) and a.server_date_time is not None for a in rows)
    one = paid.appointment(rows[0].apt_num)
    assert (one.apt_num, one.pat_num, one.apt_date_time) == (
        rows[0].apt_num, rows[0].pat_num, rows[0].apt_date_time,
    )  # fmt: skip
    with pytest.raises(NotFound):
        paid.appointment(10**9)


def test_appointment_filters_narrow_the_list(paid, appointments_route):
    every = list(paid.appointments())
    day = next(a.apt_date_time.date() for a in every if a.apt_date_time is not None)
    window = list(paid.appointments(date_start=day, date_end=day + timedelta(days=6)))
    assert window and all(
        a.apt_date_time is not None and day <= a.apt_date_time.date() <= day + timedelta(days=6)
        for a in window
    )
    status = every[0].apt_status
    assert all(a.apt_status == status for a in paid.appointments(apt_status=status))
    clinic_num = every[0].clinic_num
    assert all(a.clinic_num == clinic_num for a in paid.appointments(clinic_num=clinic_num))
    assert list(paid.appointments(date_t_stamp=datetime(2999, 1, 1))) == []
    assert list(paid.appointments(date_start=date(1990, 1, 1), date_end=date(1990, 1, 2))) == []


def test_computers_list_workstations_with_a_heartbeat(paid, computers_route):
    computers = paid.computers()
    assert computers and all(c.comp_name for c in computers)
    assert any(c.last_heart_beat is not None for c in computers)


def test_subscriptions_are_created_listed_updated_and_deleted(paid, subscriptions_route):
    made = paid.subscription_create(
        end_point_url="http://127.0.0.1:9/hook", workstation="FRONTDESK",
        watch_table="Appointment", polling_seconds=5,
    )  # fmt: skip
    assert made.subscription_num > 0 and made.watch_table == "Appointment"
    assert made.date_time_stop is None  # 0001-01-01: never stops
    assert made.subscription_num in {s.subscription_num for s in paid.subscriptions()}
    paid.subscription_update(made.subscription_num, note="renamed", polling_seconds=10)
    [now] = [s for s in paid.subscriptions() if s.subscription_num == made.subscription_num]
    assert (now.note, now.polling_seconds) == ("renamed", 10)
    paid.subscription_delete(made.subscription_num)
    assert made.subscription_num not in {s.subscription_num for s in paid.subscriptions()}


def test_the_async_client_reads_the_same_appointments_and_computers(
    sandbox, paid, appointments_route, computers_route
):
    async def work(make):
        client = make(sandbox, "Paid Clinics")
        return await client.aappointments(), await client.acomputers()

    appointments, computers = run(work)

    def same(rows):  # serverDateTime is the server's clock at each call: it moves between them
        return [dataclasses.replace(r, server_date_time=None) for r in rows]

    assert same(appointments) == same(paid.appointments())
    # Running workstations beat every few seconds: the heartbeat too may move between calls.
    beats = {c.computer_num: c.last_heart_beat for c in computers}
    assert beats.keys() == {c.computer_num for c in paid.computers()}
    assert [dataclasses.replace(c, last_heart_beat=None) for c in computers] == [
        dataclasses.replace(c, last_heart_beat=None) for c in paid.computers()
    ]


def test_the_async_client_manages_subscriptions(sandbox, subscriptions_route):
    async def work(make):
        client = make(sandbox, "Paid Clinics")
        made = await client.asubscription_create(
            end_point_url="http://127.0.0.1:9/async", watch_table="Patient", polling_seconds=30
        )
        await client.asubscription_update(made.subscription_num, note="async")
        listed = await client.asubscriptions()
        await client.asubscription_delete(made.subscription_num)
        return made, listed, await client.asubscriptions()

    made, listed, after = run(work)
    assert [s.note for s in listed if s.subscription_num == made.subscription_num] == ["async"]
    assert made.subscription_num not in {s.subscription_num for s in after}
