"""Fault tests: the sandbox fixtures of the integration tests, shared here.

Importing them registers separate instances for this folder (one more sandbox per session),
which keeps the faults injected here from leaking into other folders' tests.
"""

from __future__ import annotations

from tests.polling.conftest import (  # noqa: F401 - fixtures
    od_settings,
    sandbox,
    sandbox_account,
    sandbox_control,
    sandbox_totals,
)
