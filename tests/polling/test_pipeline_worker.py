"""End to end: a real Celery worker process, the real broker and database, the live sandbox."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.db import connection
from django.utils import timezone

from integrations.offices.models import (
    ANSWERING_STATUSES,
    AgingRow,
    AgingSnapshot,
    Office,
    OfficeStatus,
    PollKind,
    PollRun,
    RunOutcome,
    SnapshotSource,
    SnapshotState,
)
from integrations.offices.services.polling import dispatch, sweep
from tests.helpers import THROTTLE_SCALE, Worker, assert_matches_sandbox

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(celery_broker, tmp_path, sandbox):
    from odportal.celery import app

    app.control.purge()
    w = Worker(
        celery_broker,
        tmp_path / "worker.log",
        OPENDENTAL_THROTTLE_SCALE=str(THROTTLE_SCALE),
        OPENDENTAL_REMOTE_BASE_URL=sandbox.base_url,
        ODPORTAL_CLAIM_STALE_AFTER_S="3",
        # Write (and heartbeat) every page, so a kill lands between stored pages.
        ODPORTAL_INGEST_BATCH_ROWS="100",
    )
    yield w
    w.stop()


def wait_for_runs(timeout: float = 120, **filters) -> list[PollRun]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        active = PollRun.objects.filter(outcome__in=["queued", "running"], **filters)
        if not active.exists():
            return list(PollRun.objects.filter(**filters))
        time.sleep(0.3)
    raise AssertionError(f"runs still active: {list(active.values('office__name', 'kind'))}")


def test_a_sweep_ends_with_the_right_status_and_totals_for_every_office(
    sandbox_account, sandbox_control, sandbox_totals, worker
):
    worker.start()
    # A 429 storm on one office: the client honours Retry-After and the poll still succeeds.
    spare = sandbox_account["Spare Office"]
    sandbox_control(spare.manifest["customer_key"], status_429=True, times=2)
    with mock.patch.object(dispatch, "runs_send_batch", wraps=dispatch.runs_send_batch) as send:
        sweep.sweep_due_offices()
    assert [(len(c.args[0]), c.kwargs["kind"]) for c in send.call_args_list] == [
        (5, PollKind.HEALTH)
    ]  # the sweep's health polls go as one batch task
    wait_for_runs(kind=PollKind.HEALTH)
    statuses = dict(Office.objects.values_list("name", "status"))
    assert statuses == {
        "Queries Office": OfficeStatus.OK,
        "ReadAll Office": OfficeStatus.PERMISSION_MISSING,  # the account requested Queries
        "Down Office": OfficeStatus.ECONNECTOR_DOWN,
        "Disabled Office": OfficeStatus.KEY_DISABLED,
        "Spare Office": OfficeStatus.OK,
    }
    sweep.sweep_due_offices()  # aging is due for the offices that answer now
    aging_runs = wait_for_runs(kind=PollKind.AGING)
    assert {r.office.name for r in aging_runs if r.outcome == RunOutcome.OK} == {
        "Queries Office", "ReadAll Office", "Spare Office"
    }  # fmt: skip
    for office in Office.objects.filter(status__in=ANSWERING_STATUSES):
        expected = sandbox_totals(sandbox_account[office.name].manifest["customer_key"])
        snapshot = office.current_snapshot
        if office.name == "ReadAll Office":
            assert snapshot.source == SnapshotSource.REPORTS_AGING
            assert snapshot.bal_total == Decimal(str(expected["all"]["BalTotal"]))
        else:
            assert_matches_sandbox(snapshot, expected)


def test_killing_the_worker_mid_refresh_loses_nothing_and_duplicates_nothing(
    sandbox_account, sandbox_control, sandbox_totals, worker, settings
):
    office = sandbox_account["Queries Office"]
    key = office.manifest["customer_key"]
    worker.start()
    dispatch.poll_enqueue(office=office, kind=PollKind.HEALTH)
    wait_for_runs(kind=PollKind.HEALTH)
    dispatch.poll_enqueue(office=office, kind=PollKind.AGING)
    wait_for_runs(kind=PollKind.AGING)
    office.refresh_from_db()
    previous = office.current_snapshot
    assert previous is not None and previous.state == SnapshotState.COMPLETE

    sandbox_control(key, latency_ms=400)  # slow pages, so the kill lands mid-refresh
    run, _ = dispatch.poll_enqueue(office=office, kind=PollKind.AGING)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.rows >= 100:
            break
        time.sleep(0.05)
    worker.kill()
    run.refresh_from_db()
    assert run.outcome == RunOutcome.RUNNING and 0 < run.rows < 230
    office.refresh_from_db()
    assert office.current_snapshot == previous  # the half-built one is not current

    sandbox_control(key, reset=True)
    settings.CLAIM_STALE_AFTER_S = 1
    time.sleep(1.5)
    worker.start()
    dispatch.poll_enqueue(office=office, kind=PollKind.AGING)  # expires the stale claim, resumes
    wait_for_runs(kind=PollKind.AGING)
    office.refresh_from_db()
    current = office.current_snapshot
    assert current != previous and current.state == SnapshotState.COMPLETE
    assert AgingRow.objects.filter(snapshot=current).count() == 230
    assert_matches_sandbox(current, sandbox_totals(key))
    building = AgingSnapshot.objects.filter(office=office, state=SnapshotState.BUILDING)
    assert not building.exists()
    with connection.cursor() as cur:
        cur.execute(
            "SELECT snapshot_id, pat_num, COUNT(*) FROM offices_agingrow"
            " GROUP BY snapshot_id, pat_num HAVING COUNT(*) > 1"
        )
        assert cur.fetchall() == []


def test_the_poll_command_queues_waits_and_reports_each_office(sandbox_account, worker, settings):
    from io import StringIO

    from django.core.management import CommandError, call_command

    settings.AGING_BATCH_SIZE = 2  # three pollable offices: two batch tasks
    worker.start()
    out = StringIO()
    call_command("poll", "--office", "Queries Office", "--wait", "--timeout", "60", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("Queries Office: health poll queued (run ")
    assert lines[1].startswith("Queries Office: ok · status OK · 5 requests")
    for name in ("ReadAll Office", "Spare Office"):
        call_command("poll", "--office", name, "--wait", stdout=StringIO())
    Office.objects.filter(name__in=["Down Office", "Disabled Office"]).update(polling_enabled=False)
    out = StringIO()
    with mock.patch.object(dispatch, "runs_send_batch", wraps=dispatch.runs_send_batch) as send:
        call_command("poll", "--all", "--kind", "aging", "--wait", "--timeout", "90", stdout=out)
    assert [len(call.args[0]) for call in send.call_args_list] == [2, 1]
    lines = out.getvalue().splitlines()
    # Every pollable office: three refreshes, sent as the sweep sends them, in batches.
    assert lines[0] == "3 aging refreshes queued (2 offices a task), 0 already queued or running"
    finished = {line.split(":")[0]: line for line in lines[1:]}
    for name in ("Queries Office", "ReadAll Office", "Spare Office"):
        assert ": ok · " in finished[name], finished[name]
    assert PollRun.objects.filter(kind=PollKind.AGING, outcome=RunOutcome.OK).count() == 3
    with pytest.raises(CommandError, match="No office"):
        call_command("poll", "--office", "No Such Office")


def test_a_live_slow_run_is_never_taken_over_and_a_dead_workers_run_is(
    sandbox_account, sandbox_control, sandbox, celery_broker, tmp_path, settings
):
    """Staleness follows the worker's heartbeat, not how long a request takes."""
    office = sandbox_account["Spare Office"]
    key = office.manifest["customer_key"]
    w = Worker(
        celery_broker, tmp_path / "worker.log", OPENDENTAL_THROTTLE_SCALE=str(THROTTLE_SCALE),
        OPENDENTAL_REMOTE_BASE_URL=sandbox.base_url,
        ODPORTAL_CLAIM_STALE_AFTER_S="3", ODPORTAL_HEARTBEAT_EVERY_S="0.5",
    )  # fmt: skip
    settings.CLAIM_STALE_AFTER_S = 3
    sandbox_control(key, latency_ms=4000)  # every request outlasts the stale window
    try:
        w.start()
        run, _ = dispatch.poll_enqueue(office=office, kind=PollKind.HEALTH)
        deadline = time.monotonic() + 30
        while run.outcome != RunOutcome.RUNNING and time.monotonic() < deadline:
            time.sleep(0.1)
            run.refresh_from_db()
        assert run.outcome == RunOutcome.RUNNING, run.error
        time.sleep(5)  # longer than the stale window, inside one slow request
        run.refresh_from_db()
        assert run.outcome == RunOutcome.RUNNING, run.error
        again, created = dispatch.poll_enqueue(office=office, kind=PollKind.HEALTH)
        assert (again.pk, created) == (run.pk, False)  # alive: "already runs"
        w.kill()
        time.sleep(4)  # no heartbeat for longer than the stale window
        sandbox_control(key, reset=True)
        w.start()
        taken, created = dispatch.poll_enqueue(office=office, kind=PollKind.HEALTH)
        assert created and taken.pk != run.pk
        run.refresh_from_db()
        assert run.outcome == RunOutcome.FAILED and run.error == "stale claim expired"
        (done,) = [r for r in wait_for_runs(kind=PollKind.HEALTH) if r.pk == taken.pk]
        assert done.outcome == RunOutcome.OK
    finally:
        w.stop()


def test_health_stays_exact_through_the_worker_at_the_schedule(
    sandbox_account, sandbox_control, sandbox, celery_broker, tmp_path, settings
):
    """Issue 20's promise, through a real worker and the sweep: an eConnector stopped or a key
    disabled shows at the first sweep one health interval later (cheap liveness polls), a
    removed permission at the first sweep one full-check interval later."""
    interval, full_every = 3, 9
    w = Worker(
        celery_broker, tmp_path / "worker.log", OPENDENTAL_THROTTLE_SCALE=str(THROTTLE_SCALE),
        OPENDENTAL_REMOTE_BASE_URL=sandbox.base_url,
        ODPORTAL_HEALTH_FULL_CHECK_INTERVAL_S=str(full_every),
    )  # fmt: skip
    settings.HEALTH_FULL_CHECK_INTERVAL_S = full_every
    office = sandbox_account["Queries Office"]
    key = office.manifest["customer_key"]
    Office.objects.exclude(pk=office.pk).update(polling_enabled=False)
    Office.objects.filter(pk=office.pk).update(health_interval_s=interval)

    def one_interval_later() -> Office:
        time.sleep(interval)
        sweep.sweep_due_offices()
        wait_for_runs(kind=PollKind.HEALTH, office=office)
        office.refresh_from_db()
        return office

    try:
        w.start()
        sweep.sweep_due_offices()
        wait_for_runs(kind=PollKind.HEALTH, office=office)
        assert one_interval_later().status == OfficeStatus.OK
        assert (
            PollRun.objects.filter(office=office, kind=PollKind.HEALTH).latest("pk").requests == 1
        )

        sandbox_control(key, econnector_down=True)
        assert one_interval_later().status == OfficeStatus.ECONNECTOR_DOWN
        sandbox_control(key, reset=True)
        assert one_interval_later().status == OfficeStatus.OK
        sandbox_control(key, key_status="DisabledByCustomer")
        assert one_interval_later().status == OfficeStatus.KEY_DISABLED
        sandbox_control(key, reset=True)
        # A disabled key is re-checked less often; Poll now (a person) checks at once.
        dispatch.poll_enqueue(office=office, kind=PollKind.HEALTH)
        wait_for_runs(kind=PollKind.HEALTH, office=office)
        office.refresh_from_db()
        assert office.status == OfficeStatus.OK

        sandbox.state.set_permissions(key, ("ApiReadAll",))
        full_at = office.health_full_at
        deadline = full_at + timedelta(seconds=full_every)
        while office.health_full_at == full_at:
            assert timezone.now() < deadline + timedelta(seconds=interval + 5), "no full check"
            one_interval_later()
        assert office.missing_permissions == ["ApiQueries"]
        assert office.health_full_at <= deadline + timedelta(seconds=interval + 5)
    finally:
        sandbox.state.set_permissions(key, ("ApiReadAll", "ApiQueries"))
        w.stop()
