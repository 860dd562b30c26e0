"""Open Dental misbehaving (through the sandbox): every fault ends as a status, never a crash.

Each test first stores a good aging snapshot, then injects one fault and runs a refresh the way
the task does (``run_execute`` until it is done). The office must end in the status that names
the fault, the last good snapshot must stay current and whole, and nothing may escape.
"""

from __future__ import annotations

import pytest

from integrations.offices.models import (
    AgingRow,
    AgingSnapshot,
    KeyStatus,
    OfficeStatus,
    PollKind,
    RunOutcome,
    SnapshotState,
)
from integrations.offices.services.aging import recipe
from tests.helpers import assert_matches_sandbox, run_to_end


@pytest.fixture
def fast_failures(od_settings):
    """Fail fast: one client retry (absorbs a stray 429 on a busy machine), two run attempts."""
    od_settings.OPENDENTAL_MAX_RETRIES = 1
    od_settings.RUN_MAX_ATTEMPTS = 2
    od_settings.OPENDENTAL_DEADLINE_S = 0.5
    return od_settings


@pytest.fixture
def good_office(sandbox_account, fast_failures):
    """Spare Office (120 guarantors, two pages) polled OK with a complete, current snapshot."""
    office = sandbox_account["Spare Office"]
    assert run_to_end(office).outcome == RunOutcome.OK
    assert run_to_end(office, PollKind.AGING).outcome == RunOutcome.OK
    office.refresh_from_db()
    assert office.current_snapshot is not None
    office.good_snapshot = office.current_snapshot
    return office


def assert_last_good_snapshot_intact(office) -> None:
    office.refresh_from_db()
    good = office.good_snapshot
    assert office.current_snapshot_id == good.pk
    good.refresh_from_db()
    assert good.state == SnapshotState.COMPLETE
    assert AgingRow.objects.filter(snapshot=good).count() == good.guarantor_count == 120
    assert office.aging_total == good.bal_total
    # A failed refresh leaves no half-built snapshot with rows behind.
    leftovers = AgingSnapshot.objects.filter(office=office).exclude(pk=good.pk)
    assert not leftovers.filter(state=SnapshotState.BUILDING).exists()
    assert not AgingRow.objects.filter(snapshot__in=leftovers).exists()


def refresh_with_fault(office, sandbox_control, **fault):
    sandbox_control(office.manifest["customer_key"], **fault)
    run = run_to_end(office, PollKind.AGING)  # raises if anything escaped run_execute
    office.refresh_from_db()
    return run


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        pytest.param({"latency_ms": 1500}, OfficeStatus.TIMED_OUT, None, id="slow-past-timeout"),
        pytest.param(
            {"timeout": True, "timeout_immediate": True}, OfficeStatus.TIMED_OUT, 504, id="504"
        ),
        pytest.param({"status_500": True}, OfficeStatus.OD_ERROR, 500, id="500"),
        pytest.param({"html_error": True}, OfficeStatus.OD_ERROR, 502, id="html-error-page"),
        pytest.param({"truncated_json": True}, OfficeStatus.OD_ERROR, 200, id="truncated-json"),
        pytest.param({"malformed_json": True}, OfficeStatus.OD_ERROR, 200, id="malformed-json"),
        pytest.param({"status_429": True}, OfficeStatus.THROTTLED, 429, id="429-storm"),
    ],
)
def test_a_misbehaving_server_ends_as_a_status_and_keeps_the_last_good_snapshot(
    good_office, sandbox_control, fault, status, code
):
    run = refresh_with_fault(good_office, sandbox_control, **fault)
    assert run.outcome == RunOutcome.FAILED and run.attempts == 2
    assert run.status_code == code
    assert good_office.status == status, good_office.last_error
    assert good_office.last_error and good_office.consecutive_failures == 2
    if code:
        assert good_office.last_error.startswith(f"HTTP {code} ·")
    # An HTML error page is described, not quoted (none of its words, no markup).
    assert "<" not in good_office.last_error and "proxy server" not in good_office.last_error
    if fault.get("html_error"):
        assert "not an Open Dental response: text/html" in good_office.last_error
    assert_last_good_snapshot_intact(good_office)


def test_a_short_429_storm_is_ridden_out_by_honouring_retry_after(
    good_office, sandbox_control, sandbox_totals, fast_failures
):
    fast_failures.OPENDENTAL_MAX_RETRIES = 3  # the client's retries outlast a short storm
    run = refresh_with_fault(good_office, sandbox_control, status_429=True, times=3)
    assert run.outcome == RunOutcome.OK, run.error
    assert good_office.status == OfficeStatus.OK
    assert good_office.current_snapshot != good_office.good_snapshot
    assert_matches_sandbox(
        good_office.current_snapshot, sandbox_totals(good_office.manifest["customer_key"])
    )


@pytest.fixture
def after_first_page(monkeypatch):
    """Call ``action`` once, right after the refresh fetched its first page of rows."""

    def install(action):
        fetch = recipe.AgingPage.fetch
        pages = []

        def fetch_then_act(page, client):
            rows = fetch(page, client)
            pages.append(len(rows))
            if len(pages) == 1:
                action()
            return rows

        monkeypatch.setattr(recipe.AgingPage, "fetch", fetch_then_act)
        return pages

    return install


def test_a_key_disabled_while_a_refresh_runs_ends_as_key_disabled(
    good_office, sandbox_control, after_first_page
):
    key = good_office.manifest["customer_key"]
    calls = after_first_page(lambda: sandbox_control(key, key_status="DisabledByCustomer"))
    run = run_to_end(good_office, PollKind.AGING)
    good_office.refresh_from_db()
    assert calls == [100]  # one page fetched, then the key stopped working
    assert run.outcome == RunOutcome.FAILED and run.status_code == 401
    assert run.attempts == 1  # permanent: not retried
    assert good_office.status == OfficeStatus.KEY_DISABLED
    assert good_office.keys.get(is_current=True).status == KeyStatus.DISABLED_BY_CUSTOMER
    assert_last_good_snapshot_intact(good_office)


def test_a_garbled_page_mid_refresh_is_retried_and_resumes_without_duplicates(
    good_office, sandbox_control, sandbox_totals, after_first_page, fast_failures
):
    fast_failures.RUN_MAX_ATTEMPTS = 3
    key = good_office.manifest["customer_key"]
    # Two garbled answers outlast the client's one retry, so the run itself is retried.
    after_first_page(lambda: sandbox_control(key, truncated_json=True, times=2))
    run = run_to_end(good_office, PollKind.AGING)
    good_office.refresh_from_db()
    assert run.outcome == RunOutcome.OK and run.attempts >= 2, run.error
    current = good_office.current_snapshot
    assert current != good_office.good_snapshot and current.state == SnapshotState.COMPLETE
    assert AgingRow.objects.filter(snapshot=current).count() == 120
    assert_matches_sandbox(current, sandbox_totals(key))
