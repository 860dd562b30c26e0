"""Throttle, faults, Developer Portal keys, determinism, concurrency and the CLI."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

from odsandbox.config import OfficeSpec, SandboxConfig
from odsandbox.state import SandboxState
from odsandbox.testing import RunningSandbox, bind_socket, kernel_arrival, running_sandbox
from tests.helpers import SandboxApi

JSON = {"Content-Type": "application/json"}


def _headers(dev: str, cust: str) -> dict[str, str]:
    return {**JSON, "Authorization": f"ODFHIR {dev}/{cust}"}


def _faults(sandbox: RunningSandbox, cust: str, **faults: object) -> httpx.Response:
    return httpx.post(f"{sandbox.control_url}/offices/{cust}/faults", json=faults)


def test_read_all_only_key_is_rejected_with_429_inside_five_seconds() -> None:
    spec = OfficeSpec("Free Office", guarantors=3, permissions=("ApiReadAll",))
    config = SandboxConfig(office_specs=[spec], control=True)
    with running_sandbox(config) as sb:
        cust = sb.manifest["offices"][0]["customer_key"]
        headers = _headers(sb.manifest["developer_key"], cust)
        first = httpx.get(f"{sb.base_url}/securityperms", headers=headers)
        second = httpx.get(f"{sb.base_url}/securityperms", headers=headers)
        stats = httpx.get(f"{sb.control_url}/stats").json()
    assert first.status_code == 200
    assert (second.status_code, second.text) == (429, "Too many requests.")
    assert int(second.headers["Retry-After"]) == 5  # whole seconds, rounded up
    assert stats["throttle_violations"] == 1
    assert list(stats["per_key"].values()) == [{"requests": 2, "violations": 1}]


def test_a_violation_is_traced_against_the_request_before_it_on_the_same_key() -> None:
    spec = OfficeSpec("Free Office", guarantors=3, permissions=("ApiReadAll",))
    config = SandboxConfig(office_specs=[spec], control=True)
    with running_sandbox(config) as sb, httpx.Client(timeout=30) as client:
        cust = sb.manifest["offices"][0]["customer_key"]
        headers = _headers(sb.manifest["developer_key"], cust)
        client.get(f"{sb.base_url}/securityperms", headers=headers)
        client.get(f"{sb.base_url}/clinics", headers=headers)  # too early: 429
        client.get(f"{sb.base_url}/clinics", headers=headers)  # too early again
        httpx.get(f"{sb.base_url}/clinics", headers=headers)  # and from another connection
        traced = httpx.get(f"{sb.control_url}/stats").json()["recent_violations"]
        reset = httpx.post(f"{sb.control_url}/stats/reset").json()["recent_violations"]
    # A rejected request does not move the window, so both are measured from the admitted one.
    assert [(v["previous_path"], v["path"]) for v in traced] == [
        ("/api/v1/securityperms", "/api/v1/clinics")
    ] * 3
    assert all(0 <= v["gap_ms"] < v["interval_ms"] == 5000.0 for v in traced)
    assert traced[0]["gap_ms"] < traced[1]["gap_ms"] < traced[2]["gap_ms"]
    # Which connection each came on (one client's, or another's that it opened).
    assert [
        (v["same_connection"], v["previous_nth_on_connection"], v["nth_on_connection"])
        for v in traced
    ] == [(True, 1, 2), (True, 1, 3), (False, 1, 1)]
    assert reset == []


def test_delay_mode_queues_but_still_counts_the_violation() -> None:
    # A whole-second interval and one connection: the second request must arrive inside the
    # interval even on a loaded machine (0.2 s and a new connection each was flaky in CI).
    config = SandboxConfig(
        offices=1, guarantors_per_office=3, throttle_scale=1.0, over_limit="delay"
    )
    with running_sandbox(config) as sb, httpx.Client(timeout=30) as client:
        headers = _headers(sb.manifest["developer_key"], sb.manifest["offices"][0]["customer_key"])
        started = time.monotonic()
        codes = [client.get(f"{sb.base_url}/clinics", headers=headers).status_code for _ in "ab"]
        elapsed = time.monotonic() - started
        assert sb.state.stats()["throttle_violations"] == 1
    assert codes == [200, 200]
    assert elapsed >= 0.95


def test_throttle_judges_a_request_by_its_arrival_not_by_when_its_handler_ran(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A busy server reaching a request late must not make well-spaced requests look close."""
    from concurrent.futures import ThreadPoolExecutor

    from odsandbox import app as app_module

    original, delays = app_module._serve, [0.3]

    async def first_handled_late(request, endpoint):  # noqa: ANN001, ANN202 - test double
        if delays:
            await asyncio.sleep(delays.pop())
        return await original(request, endpoint)

    monkeypatch.setattr(app_module, "_serve", first_handled_late)
    config = SandboxConfig(offices=1, guarantors_per_office=3, throttle_scale=0.4)  # 0.4 s
    with running_sandbox(config) as sb:
        headers = _headers(sb.manifest["developer_key"], sb.manifest["offices"][0]["customer_key"])
        url = f"{sb.base_url}/clinics"
        with ThreadPoolExecutor(1) as pool, httpx.Client() as one, httpx.Client() as two:
            first = pool.submit(one.get, url, headers=headers)
            time.sleep(0.55)  # 0.55 s after the first arrived, 0.25 s after its handler started
            second = two.get(url, headers=headers)
            codes = [first.result().status_code, second.status_code]
        assert sb.state.stats()["throttle_violations"] == 0
    assert codes == [200, 200]


def test_service_mode_offices_are_not_throttled() -> None:
    spec = OfficeSpec("Service Office", guarantors=3, mode="Service", permissions=("ApiReadAll",))
    with running_sandbox(SandboxConfig(office_specs=[spec])) as sb:
        headers = _headers(sb.manifest["developer_key"], sb.manifest["offices"][0]["customer_key"])
        codes = {httpx.get(f"{sb.base_url}/clinics", headers=headers).status_code for _ in "abc"}
        assert sb.state.stats()["throttle_violations"] == 0
    assert codes == {200}


def test_econnector_down_is_400_with_explanation(
    sandbox: RunningSandbox, api: SandboxApi, cust: str
) -> None:
    _faults(sandbox, cust, econnector_down=True)
    r = api.get("/patients/Simple")
    assert r.status_code == 400 and "eConnector" in r.text


def test_key_disabled_by_customer_is_401(
    sandbox: RunningSandbox, api: SandboxApi, cust: str
) -> None:
    _faults(sandbox, cust, key_status="DisabledByCustomer")
    r = api.get("/clinics")
    assert (r.status_code, r.text) == (401, "Customer key is disabled (DisabledByCustomer).")


def test_extra_latency_slows_responses(sandbox: RunningSandbox, api: SandboxApi, cust: str) -> None:
    _faults(sandbox, cust, latency_ms=300)
    started = time.monotonic()
    assert api.get("/clinics").status_code == 200
    assert time.monotonic() - started >= 0.3


def test_timeout_answers_504_after_the_request_time_limit(
    sandbox: RunningSandbox, api: SandboxApi, cust: str
) -> None:
    _faults(sandbox, cust, timeout=True)
    started = time.monotonic()
    r = api.get("/clinics")
    assert (r.status_code, r.text) == (504, "Gateway Time-out")
    assert 1.4 < time.monotonic() - started < 4


@pytest.mark.parametrize(
    ("fault", "status"),
    [("timeout_immediate", 504), ("status_500", 500), ("html_error", 502), ("status_429", 429)],
)
def test_status_faults(
    sandbox: RunningSandbox, api: SandboxApi, cust: str, fault: str, status: int
) -> None:
    extra = {"timeout": True} if fault == "timeout_immediate" else {}
    _faults(sandbox, cust, **{fault: True, **extra})
    r = api.http.get("/clinics")
    assert r.status_code == status
    if fault == "html_error":
        assert r.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize("fault", ["malformed_json", "truncated_json"])
def test_corrupt_json_faults(
    sandbox: RunningSandbox, api: SandboxApi, cust: str, fault: str
) -> None:
    _faults(sandbox, cust, **{fault: True})
    r = api.get("/patients/Simple")
    assert r.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.text)


def test_faults_with_times_clear_after_n_requests(
    sandbox: RunningSandbox, api: SandboxApi, cust: str
) -> None:
    _faults(sandbox, cust, status_500=True, times=1)
    assert api.get("/clinics").status_code == 500
    assert api.get("/clinics").status_code == 200


def test_faults_are_also_python_methods(
    sandbox: RunningSandbox, api: SandboxApi, cust: str
) -> None:
    sandbox.state.set_faults(cust, econnector_down=True)
    assert api.get("/clinics").status_code == 400
    sandbox.state.reset_faults(cust)
    assert api.get("/clinics").status_code == 200


def test_control_refuses_api_keys(sandbox: RunningSandbox, cust: str) -> None:
    headers = _headers(sandbox.manifest["developer_key"], cust)
    assert httpx.get(f"{sandbox.control_url}/stats", headers=headers).status_code == 403


def test_control_routes_do_not_exist_without_control() -> None:
    with running_sandbox(SandboxConfig(offices=1, guarantors_per_office=2)) as sb:
        assert httpx.get(f"{sb.control_url}/stats").status_code == 404


def test_developer_portal_key_flow(sandbox: RunningSandbox) -> None:
    m = sandbox.manifest
    portal = httpx.Client(
        base_url=sandbox.base_url, headers=_headers(m["developer_key"], m["developer_portal_key"])
    )
    listed = portal.get("/apikeys").json()
    created = portal.post("/apikeys")
    new_key = created.json()["CustomerKey"]
    unassigned = SandboxApi(sandbox.base_url, m["developer_key"], new_key).get("/clinics")
    httpx.post(
        f"{sandbox.control_url}/keys/{new_key}/assign",
        json={"office_key": m["offices"][2]["customer_key"]},
    )
    new_api = SandboxApi(sandbox.base_url, m["developer_key"], new_key)
    assigned = new_api.get("/clinics")
    disabled = portal.put(
        "/apikeys", json={"CustomerKey": new_key, "KeyStatus": "DisabledByDeveloper"}
    )
    refused = new_api.get("/clinics")
    portal.put("/apikeys", json={"CustomerKey": new_key, "KeyStatus": "Enabled"})
    assert {k["CustomerKey"] for k in listed} >= {o["customer_key"] for o in m["offices"]}
    assert created.status_code == 201 and created.json()["DateTimeAssigned"].startswith("0001")
    assert (unassigned.status_code, assigned.status_code) == (401, 200)
    assert disabled.json()["KeyStatus"] == "DisabledByDeveloper"
    assert refused.status_code == 401 and "DisabledByDeveloper" in refused.text
    assert new_api.get("/clinics").status_code == 200
    keys = new_api.query("SELECT CustApiKey FROM apikey WHERE DevName='Sandbox Developer'").json()
    assert new_key in {k["CustApiKey"] for k in keys}


def test_developer_portal_rejects_a_wrong_portal_key(sandbox: RunningSandbox) -> None:
    headers = _headers(sandbox.manifest["developer_key"], "C" * 16)
    r = httpx.get(f"{sandbox.base_url}/apikeys", headers=headers)
    assert r.status_code == 401


def _portal(sandbox: RunningSandbox) -> httpx.Client:
    m = sandbox.manifest
    headers = _headers(m["developer_key"], m["developer_portal_key"])
    return httpx.Client(base_url=sandbox.base_url, headers=headers, timeout=10)


def test_every_portal_key_carries_a_dev_ref_id_set_on_post_or_put(sandbox: RunningSandbox) -> None:
    portal = _portal(sandbox)
    created = portal.post("/apikeys", json={"DevRefId": "office-42"}).json()
    plain = portal.post("/apikeys").json()
    renamed = portal.put(
        "/apikeys", json={"CustomerKey": plain["CustomerKey"], "DevRefId": "office-43"}
    )
    empty = portal.put("/apikeys", json={"CustomerKey": plain["CustomerKey"]})
    listed = {k["CustomerKey"]: k for k in portal.get("/apikeys").json()}
    assert all("DevRefId" in k for k in listed.values())
    assert listed[created["CustomerKey"]]["DevRefId"] == "office-42"
    assert renamed.status_code == 200 and renamed.json()["KeyStatus"] == "Enabled"
    assert listed[plain["CustomerKey"]]["DevRefId"] == "office-43"
    assert empty.status_code == 400 and "KeyStatus or DevRefId" in empty.text


def test_a_portal_disable_reaches_customer_calls_after_the_propagation_delay() -> None:
    config = SandboxConfig(offices=1, guarantors_per_office=2, portal_propagation_s=0.5)
    with running_sandbox(config) as sb:
        cust = sb.manifest["offices"][0]["customer_key"]
        api = SandboxApi(sb.base_url, sb.manifest["developer_key"], cust)
        body = {"CustomerKey": cust, "KeyStatus": "DisabledByDeveloper"}
        listed = _portal(sb).put("/apikeys", json=body).json()["KeyStatus"]
        still_works = api.get("/clinics").status_code
        time.sleep(0.6)
        refused = api.get("/clinics")
    assert listed == "DisabledByDeveloper" and still_works == 200
    assert refused.status_code == 401 and "DisabledByDeveloper" in refused.text


def test_portal_faults_answer_401_500_and_504_until_reset(sandbox: RunningSandbox) -> None:
    portal, url = _portal(sandbox), f"{sandbox.control_url}/portal/faults"
    try:
        httpx.post(url, json={"reject_portal_key": True})
        rejected = portal.get("/apikeys")
        httpx.post(url, json={"reset": True, "status_500": True, "times": 1})
        failed, after = portal.put("/apikeys", json={}), portal.get("/apikeys")
        httpx.post(url, json={"timeout": True, "timeout_immediate": True})
        timed_out = portal.post("/apikeys")
    finally:
        httpx.post(url, json={"reset": True})
    assert (rejected.status_code, rejected.text) == (401, "Invalid developer portal key.")
    assert (failed.status_code, after.status_code) == (500, 200)
    assert timed_out.status_code == 504
    assert httpx.get(url).json()["timeout"] is False


def test_same_seed_gives_same_keys_and_data(tmp_path: os.PathLike[str]) -> None:
    states = [
        SandboxState(
            SandboxConfig(
                offices=2, guarantors_per_office=15, seed=3, data_dir=os.path.join(tmp_path, name)
            )
        )
        for name in ("a", "b")
    ]
    other = SandboxState(SandboxConfig(offices=2, seed=4, data_dir=os.path.join(tmp_path, "c")))
    dumps = [s.offices[1].store.fetch("SELECT * FROM patient ORDER BY PatNum") for s in states]
    assert states[0].manifest("x") == states[1].manifest("x") != other.manifest("x")
    assert dumps[0] == dumps[1] and len(dumps[0]) > 15


def test_guarantor_count_is_exact_for_large_offices(tmp_path: os.PathLike[str]) -> None:
    state = SandboxState(
        SandboxConfig(offices=1, guarantors_per_office=2000, data_dir=str(tmp_path))
    )
    totals = state.aging_totals(state.offices[0].customer_key)
    assert totals["all"]["guarantors"] == 2000


def test_two_hundred_slow_requests_run_concurrently() -> None:
    config = SandboxConfig(offices=2, guarantors_per_office=20, latency_ms=200, throttle_scale=0)

    async def fire(sb: RunningSandbox) -> tuple[list[int], float]:
        limits = httpx.Limits(max_connections=500, max_keepalive_connections=500)
        offices = sb.manifest["offices"]
        async with httpx.AsyncClient(limits=limits, timeout=30) as client:
            for office in offices:  # build each office's file first: generation is not timed
                await client.get(
                    f"{sb.base_url}/patients/Simple",
                    headers=_headers(sb.manifest["developer_key"], office["customer_key"]),
                )
            started = time.monotonic()
            responses = await asyncio.gather(
                *(
                    client.get(
                        f"{sb.base_url}/patients/Simple",
                        params={"Offset": i % 50, "Limit": 5},
                        headers=_headers(
                            sb.manifest["developer_key"], offices[i % 2]["customer_key"]
                        ),
                    )
                    for i in range(200)
                )
            )
            return [r.status_code for r in responses], time.monotonic() - started

    with running_sandbox(config) as sb:
        codes, elapsed = asyncio.run(fire(sb))
    assert codes == [200] * 200
    assert elapsed < 10  # one after another they take 40 s (200 x 200 ms)


def test_cli_starts_prints_url_and_writes_manifest(tmp_path: os.PathLike[str]) -> None:
    manifest_path = os.path.join(tmp_path, "manifest.json")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "odsandbox",
            "--offices",
            "3",
            "--port",
            "0",
            "--guarantors-per-office",
            "5",
            "--manifest",
            manifest_path,
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=os.getcwd(),
    )
    try:
        base_url = proc.stdout.readline().strip() if proc.stdout else ""
        with open(manifest_path, encoding="utf-8") as fh:
            manifest = json.load(fh)
        office = manifest["offices"][0]
        r = httpx.get(
            f"{base_url}/securityperms",
            timeout=10,
            headers=_headers(manifest["developer_key"], office["customer_key"]),
        )
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/api/v1")
    assert manifest["base_url"] == base_url and len(manifest["offices"]) == 3
    assert r.status_code == 200


def test_read_connections_are_bounded_per_thread_least_recently_used_closed_first(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """10,000 offices must not hold 10,000 open files per thread (the fd limit here is 20,000)."""
    import sqlite3
    from datetime import date

    from odsandbox import store as store_module
    from odsandbox.data import BuildParams

    monkeypatch.setattr(store_module, "READ_CONNS_PER_THREAD", 2)
    stores = [
        store_module.OfficeStore(
            str(tmp_path / f"office-{i}.sqlite"),
            BuildParams(
                OfficeSpec(f"Office {i}", guarantors=2),
                f"lru:{i}",
                (f"k{i}",),
                date(2026, 12, 1),
                0.25,
            ),
        )  # fmt: skip
        for i in range(3)
    ]
    first = stores[0]._read_conn()
    stores[1].fetch("SELECT 1")
    first.execute("SELECT 1")  # still open: two kept
    stores[0].fetch("SELECT 1")  # used again, so the second is now the oldest
    second = stores[1]._read_conn()
    stores[2].fetch("SELECT 1")  # evicts the first (older use than the second)
    assert list(store_module._open_conns()) == [stores[1].path, stores[2].path]
    with pytest.raises(sqlite3.ProgrammingError):
        first.execute("SELECT 1")
    assert stores[0].fetch("SELECT COUNT(*) AS n FROM patient")[0]["n"] > 0  # reopened
    assert list(store_module._open_conns()) == [stores[2].path, stores[0].path]
    with pytest.raises(sqlite3.ProgrammingError):
        second.execute("SELECT 1")
    for store in stores:
        store.close()
    assert not store_module._open_conns()


@pytest.mark.skipif(sys.platform != "linux", reason="receive timestamps are Linux's")
def test_a_new_connections_first_request_is_stamped_when_it_reached_the_machine() -> None:
    # The sandbox's loop may accept a connection well after its first request arrived; the
    # throttle goes by the kernel's receive time, not by when the loop got round to it.
    listening = bind_socket("127.0.0.1", 0)
    with listening, socket.create_connection(listening.getsockname()) as client:
        client.sendall(b"GET /api/v1/clinics HTTP/1.1\r\nHost: x\r\n\r\n")
        sent = time.monotonic()
        time.sleep(0.3)  # a busy loop, not yet accepting
        accepted, _ = listening.accept()
        with accepted:
            arrived = kernel_arrival(accepted.fileno())
            assert arrived is not None and sent - 0.05 < arrived < sent + 0.05
            assert accepted.recv(100).startswith(b"GET /api/v1/clinics")  # peeked, not taken
            assert kernel_arrival(accepted.fileno()) is None  # nothing waiting now
