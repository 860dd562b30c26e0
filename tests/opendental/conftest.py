"""The contract tests' live sandbox (tests.helpers.CONTRACT_OFFICES) and its control client.

Module-scoped: each module that uses them gets a sandbox of its own, so the faults, key
statuses and request counts one module leaves behind never reach another.
"""

from __future__ import annotations

import httpx
import pytest

from odsandbox.config import SandboxConfig
from odsandbox.testing import running_sandbox
from tests.helpers import CONTRACT_OFFICES, CONTRACT_SCALE


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    config = SandboxConfig(
        office_specs=CONTRACT_OFFICES,
        throttle_scale=CONTRACT_SCALE,
        control=True,
        data_dir=str(tmp_path_factory.mktemp("odsandbox")),
        request_timeout_s=2.0,
    )
    with running_sandbox(config) as running:
        yield running


@pytest.fixture(scope="module")
def http():
    with httpx.Client() as client:
        yield client
