"""Fixtures: a shared sandbox served over real HTTP, and a small key-aware HTTP helper."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from odsandbox.config import SandboxConfig
from odsandbox.testing import RunningSandbox, running_sandbox


class Api:
    """Minimal client for tests: sets the two headers and waits out throttle 429s."""

    def __init__(self, base_url: str, dev: str, cust: str) -> None:
        headers = {"Authorization": f"ODFHIR {dev}/{cust}", "Content-Type": "application/json"}
        self.http = httpx.Client(base_url=base_url, headers=headers, timeout=30)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send, retrying only throttle rejections (the shared sandbox paces at 10 ms)."""
        for _ in range(50):
            response = self.http.request(method, path, **kwargs)
            if response.status_code != 429 or response.text != "Too many requests.":
                return response
            time.sleep(float(response.headers["Retry-After"]))
        return response

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def query(self, sql: str, **params: Any) -> httpx.Response:
        """PUT /queries/ShortQuery."""
        return self.request("PUT", "/queries/ShortQuery", json={"SqlCommand": sql}, params=params)


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


def api_for(sandbox: RunningSandbox, index: int) -> Api:
    """An Api for office ``index`` of the manifest."""
    office = sandbox.manifest["offices"][index]
    return Api(sandbox.base_url, sandbox.manifest["developer_key"], office["customer_key"])


@pytest.fixture
def make_api() -> type[Api]:
    """The Api class, for tests that need other keys (conftest modules are not imported)."""
    return Api


@pytest.fixture
def office_api(sandbox: RunningSandbox) -> Callable[[int], Api]:
    """Factory: an Api for office ``index`` of the shared sandbox."""
    return lambda index: api_for(sandbox, index)


@pytest.fixture
def api(sandbox: RunningSandbox) -> Iterator[Api]:
    """Office 0 (uses clinics); its faults are reset afterwards."""
    yield api_for(sandbox, 0)
    sandbox.state.reset_faults(sandbox.manifest["offices"][0]["customer_key"])


@pytest.fixture
def cust(sandbox: RunningSandbox) -> str:
    """Customer key of office 0."""
    return sandbox.manifest["offices"][0]["customer_key"]
