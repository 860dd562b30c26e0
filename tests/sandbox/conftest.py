"""Fixtures: a shared sandbox served over real HTTP, and tests.helpers.SandboxApi clients for
its offices."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from odsandbox.config import SandboxConfig
from odsandbox.testing import RunningSandbox, running_sandbox
from tests.helpers import SandboxApi


@pytest.fixture(scope="session")
def sandbox() -> Iterator[RunningSandbox]:
    """Three offices (with clinics, without clinics, with clinics), control API on."""
    config = SandboxConfig(
        offices=3,
        guarantors_per_office=40,
        seed=7,
        throttle_scale=0.01,
        control=True,
        report_latency_ms=10,
        request_timeout_s=1.5,
    )
    with running_sandbox(config) as running:
        yield running


def api_for(sandbox: RunningSandbox, index: int) -> SandboxApi:
    """A SandboxApi for office ``index`` of the manifest."""
    office = sandbox.manifest["offices"][index]
    return SandboxApi(sandbox.base_url, sandbox.manifest["developer_key"], office["customer_key"])


@pytest.fixture
def office_api(sandbox: RunningSandbox) -> Callable[[int], SandboxApi]:
    """Factory: a SandboxApi for office ``index`` of the shared sandbox."""
    return lambda index: api_for(sandbox, index)


@pytest.fixture
def api(sandbox: RunningSandbox) -> Iterator[SandboxApi]:
    """Office 0 (uses clinics); its faults are reset afterwards."""
    yield api_for(sandbox, 0)
    sandbox.state.reset_faults(sandbox.manifest["offices"][0]["customer_key"])


@pytest.fixture
def cust(sandbox: RunningSandbox) -> str:
    """Customer key of office 0."""
    return sandbox.manifest["offices"][0]["customer_key"]
