"""A live sandbox over real HTTP and an account whose offices point at it."""

from __future__ import annotations

import httpx
import pytest

from integrations.accounts.services import accounts
from integrations.offices.services import keys, offices
from odsandbox.config import OfficeSpec, SandboxConfig
from odsandbox.testing import running_sandbox

THROTTLE_SCALE = 0.02  # 1 s -> 20 ms, 5 s -> 100 ms: the real rules, fast enough for tests

SPECS = [
    OfficeSpec(name="Queries Office", guarantors=230, clinics=3),
    OfficeSpec(name="ReadAll Office", guarantors=40, permissions=("ApiReadAll",)),
    OfficeSpec(name="Down Office", guarantors=10, econnector_down=True),
    OfficeSpec(name="Disabled Office", guarantors=10, key_status="DisabledByCustomer"),
    OfficeSpec(name="Spare Office", guarantors=120, clinics=2),
]


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory):
    config = SandboxConfig(
        office_specs=SPECS,
        seed=7,
        throttle_scale=THROTTLE_SCALE,
        control=True,
        data_dir=str(tmp_path_factory.mktemp("sandbox")),
        report_latency_ms=0,
    )
    with running_sandbox(config) as sb:
        yield sb


@pytest.fixture
def sandbox_control(sandbox):
    """POST faults to the sandbox; every office's faults are cleared after the test."""
    http = httpx.Client(base_url=sandbox.control_url, timeout=10)

    def fault(customer_key: str, **changes) -> dict:
        response = http.post(f"/offices/{customer_key}/faults", json=changes)
        response.raise_for_status()
        return response.json()

    yield fault
    for office in sandbox.manifest["offices"]:
        # Reset, then put back what the office was created with (its own faults and key status).
        url = f"/offices/{office['customer_key']}/faults"
        http.post(url, json={"reset": True})
        http.post(
            url,
            json={"key_status": office["key_status"], "econnector_down": office["econnector_down"]},
        )
    http.close()


@pytest.fixture
def sandbox_totals(sandbox):
    def totals(customer_key: str) -> dict:
        url = f"{sandbox.control_url}/offices/{customer_key}/aging-totals"
        return httpx.get(url, timeout=30).json()

    return totals


@pytest.fixture
def od_settings(settings):
    settings.OPENDENTAL_THROTTLE_SCALE = THROTTLE_SCALE
    settings.MAX_INLINE_PACE_WAIT_S = 2.0
    return settings


@pytest.fixture
def sandbox_account(db, owner, sandbox, od_settings):
    """A developer account with every sandbox office and its key; offices keyed by name."""
    manifest = sandbox.manifest
    account = accounts.developer_account_create(
        actor=owner,
        developer_key=manifest["developer_key"],
        company_name="Sandbox Vendor",
        contact_phone="+1 555 0100",
        billing_email="billing@sandbox.example",
        billing_address="1 Test Way",
        app_description="Tests",
        dev_name=manifest["dev_name"],
    )
    accounts.requested_permissions_set(
        account=account,
        actor=owner,
        matrix={"Patients": {"read": True}, "Queries": {"read": True}},
    )
    made = {}
    for spec in manifest["offices"]:
        office = offices.office_create(
            account=account, actor=owner, name=spec["name"], base_url=manifest["base_url"],
            time_zone="UTC",
        )  # fmt: skip
        keys.customer_key_add(office=office, key=spec["customer_key"], actor=owner)
        office.manifest = spec
        made[spec["name"]] = office
    return made
