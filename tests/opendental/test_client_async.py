"""The async client (httpx over aiohttp, one event loop) against a live sandbox over HTTP.

It shares the sync client's pacing, retries, error mapping and parsing; these tests check that
it behaves the same where it waits differently.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import httpx
import pytest

from integrations.offices.services.aging import recipe
from integrations.opendental import (
    LocalPacer,
    OpenDentalClient,
    ServerTimeout,
    Throttled,
    Timeout,
    Unreachable,
)
from integrations.opendental.aio import AsyncOpenDentalClient, async_transport
from tests.helpers import CONTRACT_OFFICES, CONTRACT_SCALE, contract_office, set_faults, stats_for


def client_kwargs(sandbox, name, **kwargs):
    spec = contract_office(sandbox, name)
    kwargs.setdefault("throttle_scale", CONTRACT_SCALE)
    kwargs.setdefault("backoff_base_s", 0.01)
    kwargs.setdefault("backoff_max_s", 0.1)
    kwargs.setdefault("permissions", frozenset(spec["permissions"]))
    kwargs.setdefault("mode", next(o.mode for o in CONTRACT_OFFICES if o.name == name))
    args = (sandbox.base_url, sandbox.manifest["developer_key"], spec["customer_key"])
    return args, kwargs


def run(work):
    """Run ``work(make)`` on a new event loop; ``make(name, **kw)`` builds async clients."""

    async def main():
        async with async_transport(max_connections=10) as pool:

            def make(sandbox, name, **kwargs):
                args, kwargs = client_kwargs(sandbox, name, **kwargs)
                return AsyncOpenDentalClient(*args, transport=pool, **kwargs)

            return await work(make)

    return asyncio.run(main())


def test_pages_equal_the_sync_clients(sandbox):
    sql = recipe.AGING_SQL
    args, kwargs = client_kwargs(sandbox, "Paid Clinics")
    sync = OpenDentalClient(*args, **kwargs)
    expected = [sync.short_query(sql, 0), sync.short_query(sql, 100)]

    async def work(make):
        client = make(sandbox, "Paid Clinics", pacer=LocalPacer())
        granted = await client.agranted_permissions()
        pref = await client.apreference("DateLastAging")
        pages = [await client.ashort_query(sql, 0), await client.ashort_query(sql, 100)]
        return granted, pref, pages

    granted, pref, pages = run(work)
    assert granted == sync.granted_permissions()
    assert pref == sync.preference("DateLastAging") and pref
    assert [len(p) for p in pages] == [100, 20]
    assert pages == expected


def test_offices_multiplexed_on_one_loop_are_paced_and_never_draw_a_429(sandbox, http):
    http.post(f"{sandbox.control_url}/stats/reset")
    pacer = LocalPacer()

    async def work(make):
        async def calls(name, n):
            client = make(sandbox, name, pacer=pacer, max_retries=0)
            for _ in range(n):
                await client.arequest("GET", "/clinics")

        # Two clients of one key share its slots through the pacer, as two offices' runs would.
        await asyncio.gather(calls("Throttle", 4), calls("Enterprise", 10), calls("Enterprise", 10))

    run(work)
    assert stats_for(sandbox, http, "Throttle") == {"requests": 4, "violations": 0}
    assert stats_for(sandbox, http, "Enterprise") == {"requests": 20, "violations": 0}


@pytest.fixture
def faulty(sandbox, http):
    set_faults(sandbox, http, "Faulty", reset=True)
    yield
    set_faults(sandbox, http, "Faulty", reset=True)


def test_faults_map_to_the_sync_clients_errors(sandbox, http, faulty):
    async def fail(make, **client_kwargs):
        client = make(sandbox, "Faulty", max_retries=0, **client_kwargs)
        try:
            await client.arequest("GET", "/clinics")
        except Exception as exc:  # noqa: BLE001 - returned to the test
            return exc
        return None

    set_faults(sandbox, http, "Faulty", status_429=True)
    throttled = run(fail)
    assert isinstance(throttled, Throttled) and throttled.retry_after == 1.0

    set_faults(sandbox, http, "Faulty", reset=True)
    set_faults(sandbox, http, "Faulty", timeout=True, timeout_immediate=True)
    gateway = run(fail)
    assert isinstance(gateway, ServerTimeout) and gateway.status == 504

    set_faults(sandbox, http, "Faulty", reset=True)
    set_faults(sandbox, http, "Faulty", latency_ms=1500)
    slow = run(lambda make: fail(make, timeout=httpx.Timeout(5, read=0.3)))
    assert isinstance(slow, Timeout)


def test_a_one_off_fault_is_absorbed_by_a_retry(sandbox, http, faulty):
    set_faults(sandbox, http, "Faulty", truncated_json=True, times=1)

    async def work(make):
        return await make(sandbox, "Faulty").agranted_permissions()

    assert "ApiReadAll" in run(work)


def test_a_closed_port_is_unreachable():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    async def work():
        async with async_transport(max_connections=1) as pool:
            client = AsyncOpenDentalClient(
                f"http://127.0.0.1:{port}/api/v1", "Dev0123456789ab", "Cust0123456789ab",
                min_interval_s=0, max_retries=1, backoff_max_s=0.01, transport=pool,
            )  # fmt: skip
            await client.arequest("GET", "/clinics")

    with pytest.raises(Unreachable):
        asyncio.run(work())


def test_pacing_counts_from_when_the_request_left_not_from_its_response(sandbox, http, faulty):
    set_faults(sandbox, http, "Faulty", latency_ms=400)  # the office answers slowly

    async def work(make):
        client = make(sandbox, "Faulty", max_retries=0)
        started = time.monotonic()
        await client.arequest("GET", "/clinics")
        return started, client._last_sent, time.monotonic()

    started, sent, answered = run(work)
    assert answered - started >= 0.4
    # The next slot is counted from the send (aiohttp's trace signal), as the sync client does.
    assert started <= sent < started + 0.2


def test_a_request_outslept_on_a_busy_loop_confirms_its_slot_first(sandbox, http):
    # A (on this loop) books a slot, B (another thread, another process's stand-in) the one
    # after it; the loop is then held past A's slot until B's. A, sent then, would reach Open
    # Dental with B; instead it confirms its slot, finds B's after it and follows B.
    pacer = LocalPacer()
    args, kwargs = client_kwargs(sandbox, "Paid Clinics", pacer=pacer, max_retries=0)
    b_client = OpenDentalClient(*args, **kwargs)
    http.post(f"{sandbox.control_url}/stats/reset")

    async def work(make):
        a_client = make(sandbox, "Paid Clinics", pacer=pacer, max_retries=0)
        for _ in range(4):
            b_client.clinics()
            pacer.reserve(b_client.pace_key_id, CONTRACT_SCALE)  # a slot taken: A has to wait
            a_client._slot = None
            a = asyncio.create_task(a_client.arequest("GET", "/clinics"))
            while a_client._slot is None:  # A has booked the slot after B's
                await asyncio.sleep(0)
            b = threading.Thread(target=b_client.clinics)  # books the slot after A's
            b.start()
            time.sleep(
                max(0.0, a_client._slot.due + pacer.padded(CONTRACT_SCALE) - time.monotonic())
            )
            await a
            b.join()

    run(work)
    assert stats_for(sandbox, http, "Paid Clinics") == {"requests": 12, "violations": 0}
