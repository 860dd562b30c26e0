"""Fault tests: a polling sandbox of their own.

The polling fixtures (sandbox_account, sandbox_control, sandbox_totals, od_settings) come from
tests/conftest.py; overriding ``sandbox`` here makes them use this folder's instance, so the
faults injected here (latency, 5xx, disabled keys, a worker killed mid-request) never reach the
sandbox the other folders' tests share.
"""

from __future__ import annotations

import pytest

from tests.helpers import polling_sandbox


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory):
    with polling_sandbox(tmp_path_factory.mktemp("faults-sandbox")) as sb:
        yield sb
