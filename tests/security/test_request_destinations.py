"""Requests go only where the deployment allows, checked on the address connected to: a refused
connection is the office's status and cause (Unreachable, "address not allowed: ..."), and the
host behind it receives nothing, no Authorization header (real HTTP, both engines)."""

from __future__ import annotations

import httpx

from integrations.offices.models import OfficeStatus, PollKind, PollRun, RunOutcome
from integrations.offices.services.polling import batch, dispatch
from tests.helpers import run_to_end


def _requests(sandbox) -> int:
    return httpx.get(f"{sandbox.control_url}/stats", timeout=10).json()["requests"]


def test_with_loopback_not_listed_the_sandbox_receives_no_request(
    sandbox_account, sandbox, settings
):
    """Both engines: health polls (sync client) and a batch of aging refreshes (aiohttp)."""
    offices_ = [sandbox_account[n] for n in ("Queries Office", "ReadAll Office", "Spare Office")]
    for office in offices_:  # health-polled while allowed: the batch needs their permissions
        run_to_end(office)
    settings.ODPORTAL_ALLOWED_NETWORKS = []
    before = _requests(sandbox)
    health = run_to_end(offices_[0])
    run_ids = [
        dispatch.poll_enqueue(office=o, kind=PollKind.AGING, send=False)[0].pk for o in offices_
    ]
    assert batch.batch_execute(run_ids, claimer="refused") == {}  # permanent: nothing to resume
    assert _requests(sandbox) == before
    assert "address not allowed: 127.0.0.1" in health.error
    for run in PollRun.objects.filter(pk__in=run_ids).select_related("office"):
        assert run.outcome == RunOutcome.FAILED and "address not allowed: 127.0.0.1" in run.error
        assert run.office.status == OfficeStatus.UNREACHABLE
