"""The polling pipeline against the live sandbox over HTTP (tasks called as functions)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from integrations.offices.models import (
    ACTIVE_OUTCOMES,
    AgingRow,
    AgingSnapshot,
    KeyStatus,
    Office,
    OfficeStatus,
    PollKind,
    PollRun,
    RunOutcome,
    SnapshotSource,
    SnapshotState,
)
from integrations.offices.services import keys
from integrations.offices.services.aging import recipe, snapshots
from integrations.offices.services.polling import dispatch, execute, runs, sweep
from tests.factories import random_key
from tests.helpers import BUCKET_MAP, assert_matches_sandbox, run_to_end


def test_health_poll_of_a_good_office_stores_permissions_version_and_clinics(sandbox_account):
    office = sandbox_account["Queries Office"]
    run = run_to_end(office)
    office.refresh_from_db()
    assert run.outcome == RunOutcome.OK and run.requests == 5
    assert office.status == OfficeStatus.OK and office.status_since is not None
    assert set(office.granted_permissions) == {"ApiReadAll", "ApiQueries"}
    assert office.missing_permissions == []
    assert office.program_version and office.date_last_aging is not None
    assert office.aging_service_time_due is not None
    assert (
        sorted(office.clinics.values_list("clinic_num", flat=True))
        == office.manifest["clinic_nums"]
    )


def test_a_key_missing_a_requested_permission_makes_the_office_permission_missing(
    sandbox_account,
):
    office = sandbox_account["ReadAll Office"]  # the account requested Queries
    run = run_to_end(office)
    office.refresh_from_db()
    assert run.outcome == RunOutcome.OK  # the key works: the poll itself succeeded
    assert office.status == OfficeStatus.PERMISSION_MISSING
    assert office.missing_permissions == ["ApiQueries"]
    assert office.last_error == "The key lacks ApiQueries, which the account requested."
    assert office.status_changes.get().status == OfficeStatus.PERMISSION_MISSING


def test_granting_the_permission_makes_the_office_ok_again(sandbox_account, sandbox):
    office = sandbox_account["ReadAll Office"]
    run_to_end(office)
    customer_key = office.manifest["customer_key"]
    sandbox.state.set_permissions(customer_key, ("ApiReadAll", "ApiQueries"))
    try:
        run_to_end(office)  # not OK, so this is the full check that reads permissions again
    finally:
        sandbox.state.set_permissions(customer_key, ("ApiReadAll",))
    office.refresh_from_db()
    assert office.status == OfficeStatus.OK
    assert office.missing_permissions == [] and office.last_error == ""


def test_an_office_missing_a_permission_still_gets_aging(sandbox_account):
    office = sandbox_account["ReadAll Office"]
    run_to_end(office)
    queued = sweep.sweep_due_offices()
    assert queued["aging"] >= 1
    assert office.runs.filter(kind=PollKind.AGING).exists()


def test_econnector_down_becomes_a_status_with_the_explanation(sandbox_account):
    office = sandbox_account["Down Office"]
    run = run_to_end(office)
    office.refresh_from_db()
    assert run.outcome == RunOutcome.FAILED and run.status_code == 400
    assert office.status == OfficeStatus.ECONNECTOR_DOWN
    assert "eConnector" in office.last_error and office.consecutive_failures == 1
    # The status code is said once, not once by the prefix and again by the message.
    assert office.last_error.startswith("HTTP 400 · EConnectorDown: ")
    assert office.last_error.count("HTTP 400") == 1


def test_key_disabled_by_the_customer_is_detected(sandbox_account):
    office = sandbox_account["Disabled Office"]
    run_to_end(office)
    office.refresh_from_db()
    assert office.status == OfficeStatus.KEY_DISABLED
    assert office.keys.get(is_current=True).status == KeyStatus.DISABLED_BY_CUSTOMER


def test_a_key_the_office_disabled_is_rechecked_until_the_office_enables_it(
    sandbox_account, sandbox_control, od_settings
):
    od_settings.KEY_DISABLED_RECHECK_S = 3600
    office = sandbox_account["Disabled Office"]
    run_to_end(office)
    office.refresh_from_db()
    assert office.status == OfficeStatus.KEY_DISABLED
    # Re-checked at the slow pace, not every health interval.
    assert office.next_health_at > timezone.now() + timedelta(minutes=59)

    def queued_health(now) -> bool:
        PollRun.objects.filter(outcome=RunOutcome.QUEUED).update(outcome=RunOutcome.OK)
        sweep.sweep_due_offices(now=now)
        return PollRun.objects.filter(
            office=office, kind=PollKind.HEALTH, outcome=RunOutcome.QUEUED
        ).exists()

    assert not queued_health(timezone.now() + timedelta(minutes=30))
    sandbox_control(office.manifest["customer_key"], key_status="Enabled")  # in Open Dental
    assert queued_health(timezone.now() + timedelta(minutes=61))
    run = PollRun.objects.get(office=office, kind=PollKind.HEALTH, outcome=RunOutcome.QUEUED)
    assert execute.run_execute(run.pk) is None
    office.refresh_from_db()
    assert office.status == OfficeStatus.OK
    assert office.keys.get(is_current=True).status == KeyStatus.ENABLED
    assert sweep.offices_pollable().filter(pk=office.pk).exists()  # aging can resume


def test_a_key_we_disabled_is_not_rechecked(sandbox_account, owner, od_settings):
    office = sandbox_account["Disabled Office"]
    run_to_end(office)  # Open Dental says disabled by the office
    keys.customer_key_disable(key=office.keys.get(is_current=True), actor=owner)
    sweep.sweep_due_offices(now=timezone.now() + timedelta(days=1))
    assert not PollRun.objects.filter(office=office, outcome=RunOutcome.QUEUED).exists()


def test_unknown_key_is_rejected(sandbox_account, owner):
    office = sandbox_account["Spare Office"]
    keys.customer_key_add(office=office, key=random_key(), actor=owner)
    run = run_to_end(office)
    office.refresh_from_db()
    assert run.outcome == RunOutcome.FAILED and run.status_code == 401
    assert office.status == OfficeStatus.KEY_REJECTED


def test_aging_refresh_by_short_query_matches_the_sandbox_per_office_and_clinic(
    sandbox_account, sandbox_totals
):
    office = sandbox_account["Queries Office"]
    run_to_end(office)
    run = run_to_end(office, PollKind.AGING)
    office.refresh_from_db()
    snapshot = office.current_snapshot
    assert run.outcome == RunOutcome.OK, run.error
    assert (
        snapshot.state == SnapshotState.COMPLETE and snapshot.source == SnapshotSource.SHORT_QUERY
    )
    assert snapshot.as_of == office.date_last_aging
    assert run.rows == 230 and run.requests >= 3  # 100 + 100 + 30
    assert_matches_sandbox(snapshot, sandbox_totals(office.manifest["customer_key"]))
    assert office.aging_total == snapshot.bal_total


def test_without_queries_permission_aging_falls_back_to_reports_aging(
    sandbox_account, sandbox_totals
):
    office = sandbox_account["ReadAll Office"]
    run_to_end(office)
    run = run_to_end(office, PollKind.AGING)
    office.refresh_from_db()
    assert run.outcome == RunOutcome.OK, run.error
    assert office.current_snapshot.source == SnapshotSource.REPORTS_AGING
    expected = sandbox_totals(office.manifest["customer_key"])
    snapshot = office.current_snapshot
    assert snapshot.guarantor_count == expected["all"]["guarantors"]
    for ours in ("bal_0_30", "bal_31_60", "bal_61_90", "bal_over_90", "bal_total"):
        assert getattr(snapshot, ours) == Decimal(str(expected["all"][BUCKET_MAP[ours]]))


def test_a_failed_refresh_keeps_the_last_good_snapshot_current(
    sandbox_account, sandbox_control, settings, monkeypatch
):
    settings.RUN_MAX_ATTEMPTS = 2
    office = sandbox_account["Spare Office"]
    run_to_end(office)
    good = run_to_end(office, PollKind.AGING)
    office.refresh_from_db()
    current = office.current_snapshot
    assert good.outcome == RunOutcome.OK
    # The server fails from the second page on, so the refresh has opened a snapshot and
    # stored its first page before it gives up (after both attempts).
    fetch = recipe.AgingPage.fetch

    def fetch_then_fail(page, client):
        rows = fetch(page, client)
        sandbox_control(office.manifest["customer_key"], status_500=True)
        return rows

    monkeypatch.setattr(recipe.AgingPage, "fetch", fetch_then_fail)
    bad = run_to_end(office, PollKind.AGING)
    office.refresh_from_db()
    assert bad.outcome == RunOutcome.FAILED and "500" in bad.error
    assert office.current_snapshot == current
    assert AgingRow.objects.filter(snapshot=current).count() == current.guarantor_count
    failed = AgingSnapshot.objects.get(run=bad)
    assert failed.state == SnapshotState.FAILED and not failed.rows.exists()
    assert office.status == OfficeStatus.OD_ERROR


def test_a_half_done_refresh_resumes_without_duplicating_rows(sandbox_account, sandbox_totals):
    office = sandbox_account["Queries Office"]
    run_to_end(office)
    first = run_to_end(office, PollKind.AGING)
    complete = AgingSnapshot.objects.get(run=first)
    # Simulate a killed worker: a building snapshot holding the first 150 rows.
    partial = AgingSnapshot.objects.create(
        office=office, source=complete.source, as_of=complete.as_of, state=SnapshotState.BUILDING
    )
    fields = list(snapshots.ROW_FIELDS)
    first_rows = complete.rows.order_by("pat_num").values(*fields)[:150]
    AgingRow.objects.bulk_create([AgingRow(snapshot=partial, **row) for row in first_rows])
    second = run_to_end(office, PollKind.AGING)
    partial.refresh_from_db()
    office.refresh_from_db()
    assert second.outcome == RunOutcome.OK
    assert office.current_snapshot == partial and partial.state == SnapshotState.COMPLETE
    assert second.rows == 230 and partial.rows.count() == 230
    assert_matches_sandbox(partial, sandbox_totals(office.manifest["customer_key"]))


def test_enqueue_twice_gives_one_active_run(sandbox_account):
    office = sandbox_account["Queries Office"]
    a, created_a = dispatch.poll_enqueue(office=office, send=False)
    b, created_b = dispatch.poll_enqueue(office=office, send=False)
    assert created_a and not created_b and a.pk == b.pk


def test_runs_for_many_offices_skip_the_active_and_take_over_the_stale(sandbox_account, settings):
    queries, spare, down = (
        sandbox_account[n] for n in ("Queries Office", "Spare Office", "Down Office")
    )
    active, _ = dispatch.poll_enqueue(office=queries, send=False)
    stale, _ = dispatch.poll_enqueue(office=spare, send=False)
    assert runs.run_claim(stale.pk, claimer="dead-worker") is not None
    PollRun.objects.filter(pk=stale.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=settings.CLAIM_STALE_AFTER_S + 1)
    )
    created = runs.runs_create([queries, spare, down], PollKind.HEALTH)
    assert set(created) == {spare.pk, down.pk}  # the active run stands
    assert PollRun.objects.get(pk=stale.pk).outcome == RunOutcome.FAILED
    for office_id, run_id in created.items():
        run = PollRun.objects.get(pk=run_id)
        assert (run.office_id, run.kind, run.outcome) == (office_id, PollKind.HEALTH, "queued")
    assert runs.runs_create([queries, spare, down], PollKind.HEALTH) == {}  # all active now
    assert PollRun.objects.filter(outcome__in=ACTIVE_OUTCOMES).count() == 3


@pytest.mark.django_db(transaction=True)
def test_the_same_poll_run_twice_at_once_does_the_work_once(sandbox_account):
    office = sandbox_account["Queries Office"]
    run, _ = dispatch.poll_enqueue(office=office, send=False)
    results, barrier = [], threading.Barrier(2)

    def work():
        barrier.wait()
        try:
            results.append(runs.run_claim(run.pk, claimer=f"t{threading.get_ident()}"))
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r is not None for r in results) == 1


def test_a_stale_claim_can_be_taken_over(sandbox_account, settings):
    office = sandbox_account["Queries Office"]
    run, _ = dispatch.poll_enqueue(office=office, send=False)
    assert runs.run_claim(run.pk, claimer="dead-worker") is not None
    assert runs.run_claim(run.pk, claimer="other") is None
    PollRun.objects.filter(pk=run.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=settings.CLAIM_STALE_AFTER_S + 1)
    )
    assert runs.run_claim(run.pk, claimer="other") is not None


def test_sweep_queues_only_due_pollable_offices(sandbox_account, owner):
    paused = sandbox_account["Spare Office"]
    paused.polling_enabled = False
    paused.save()
    moved_key = sandbox_account["Down Office"].keys.get(is_current=True)
    keys.customer_key_move(key=moved_key, to_office=sandbox_account["ReadAll Office"], actor=owner)
    disabled = sandbox_account["Disabled Office"].keys.get(is_current=True)
    keys.customer_key_disable(key=disabled, actor=owner)
    result = sweep.sweep_due_offices()
    queued = set(
        PollRun.objects.filter(kind=PollKind.HEALTH).values_list("office__name", flat=True)
    )
    assert queued == {"Queries Office"}
    assert result["health"] == 1
    assert sweep.sweep_due_offices()["health"] == 0  # not due again yet
    later = timezone.now() + timedelta(minutes=16)
    PollRun.objects.update(outcome=RunOutcome.OK)
    sweep.sweep_due_offices(now=later)
    queued = set(
        PollRun.objects.filter(kind=PollKind.HEALTH).values_list("office__name", flat=True)
    )
    assert "ReadAll Office" in queued  # the moved key settled after 15 minutes


def test_a_health_poll_due_before_the_next_sweep_goes_with_this_one(sandbox_account, settings):
    """Sent early, it begins at its due time (the batch waits): waiting for the first sweep
    after it would add up to a sweep to each interval."""
    settings.SWEEP_INTERVAL_S = 60
    office = sandbox_account["Queries Office"]
    Office.objects.exclude(pk=office.pk).update(polling_enabled=False)
    now = timezone.now()
    Office.objects.filter(pk=office.pk).update(next_health_at=now + timedelta(seconds=70))
    assert sweep.sweep_due_offices(now=now)["health"] == 0  # the next sweep's
    Office.objects.filter(pk=office.pk).update(next_health_at=now + timedelta(seconds=50))
    assert sweep.sweep_due_offices(now=now)["health"] == 1


def test_the_sweep_holds_what_it_sent_but_never_a_time_a_finished_poll_set(
    sandbox_account, settings
):
    settings.SWEEP_INTERVAL_S = 60
    now = timezone.now()
    sent, finished = sandbox_account["Queries Office"], sandbox_account["Spare Office"]
    Office.objects.filter(pk=sent.pk).update(next_health_at=None, health_interval_s=300)
    confirm_at = now + timedelta(seconds=90)  # e.g. a fast worker's failure: confirm soon
    Office.objects.filter(pk=finished.pk).update(next_health_at=confirm_at)
    sweep._push_next([sent, finished], PollKind.HEALTH, now)
    sent.refresh_from_db()
    finished.refresh_from_db()
    assert sent.next_health_at == now + timedelta(seconds=300)
    assert finished.next_health_at == confirm_at


def test_aging_as_of_another_date_is_kept_apart_and_never_current(sandbox_account, sandbox):
    office = sandbox_account["Spare Office"]
    run_to_end(office)
    daily = run_to_end(office, PollKind.AGING)
    as_of = timezone.now().date() - timedelta(days=45)
    run = run_to_end(office, PollKind.AGING_AS_OF, as_of=as_of)
    office.refresh_from_db()
    snapshot = AgingSnapshot.objects.get(run=run)
    assert run.outcome == RunOutcome.OK and run.rows == snapshot.guarantor_count > 0
    assert snapshot.is_as_of_request and snapshot.as_of == as_of
    assert snapshot.source == SnapshotSource.REPORTS_AGING_AS_OF
    assert office.current_snapshot == AgingSnapshot.objects.get(run=daily)
    # 45 days back, today's 0-30 charges did not exist yet: the buckets must differ.
    assert snapshot.bal_total != office.current_snapshot.bal_total


def test_a_failed_aging_refresh_is_retried_within_the_day(sandbox_account, settings):
    settings.RUN_MAX_ATTEMPTS = 1
    office = sandbox_account["Down Office"]
    office.granted_permissions = ["ApiReadAll", "ApiQueries"]
    office.save()
    before = timezone.now()
    run = run_to_end(office, PollKind.AGING)
    office.refresh_from_db()
    assert run.outcome == RunOutcome.FAILED
    retry_window = timedelta(seconds=settings.AGING_RETRY_AFTER_FAILURE_S + 60)
    assert office.next_aging_at - before < retry_window


def test_snapshots_past_retention_are_pruned_but_never_the_current_one(sandbox_account, settings):
    office = sandbox_account["Queries Office"]
    run_to_end(office)
    run_to_end(office, PollKind.AGING)
    run_to_end(office, PollKind.AGING)
    office.refresh_from_db()
    old_time = timezone.now() - timedelta(days=settings.SNAPSHOT_RETENTION_DAYS + 1)
    AgingSnapshot.objects.filter(office=office).update(fetched_at=old_time)
    assert snapshots.snapshots_prune() == 1
    assert list(AgingSnapshot.objects.filter(office=office)) == [office.current_snapshot]
    assert AgingRow.objects.filter(snapshot=office.current_snapshot).count() == 230


def test_a_run_deferred_to_its_next_throttle_slot_keeps_what_it_fetched(
    sandbox_account, sandbox_totals, settings
):
    office = sandbox_account["Queries Office"]
    run_to_end(office)
    settings.MAX_INLINE_PACE_WAIT_S = 0.0  # every wait for a slot re-queues the run
    settings.OPENDENTAL_THROTTLE_SCALE = 0.2  # 200 ms slots: longer than a page takes
    settings.INGEST_BATCH_ROWS = 1000  # rows would otherwise wait for a batch to fill
    run, _ = dispatch.poll_enqueue(office=office, kind=PollKind.AGING, send=False)
    deferrals = 0
    while (delay := execute.run_execute(run.pk)) is not None:
        deferrals += 1
        assert delay > 0
        time.sleep(delay)
    run.refresh_from_db()
    office.refresh_from_db()
    assert run.outcome == RunOutcome.OK and deferrals >= 2
    assert run.rows == 230 and run.requests <= 1 + 3  # DateLastAging + three pages, none twice
    assert_matches_sandbox(office.current_snapshot, sandbox_totals(office.manifest["customer_key"]))


def test_status_changes_are_kept_as_the_office_history(sandbox_account, sandbox_control, owner):
    office = sandbox_account["Spare Office"]
    run_to_end(office)
    sandbox_control(office.manifest["customer_key"], econnector_down=True)
    run_to_end(office)
    run_to_end(office)  # same status again: no new entry
    sandbox_control(office.manifest["customer_key"], reset=True)
    run_to_end(office)
    key = office.keys.get(is_current=True)
    keys.customer_key_disable(key=key, actor=owner, reason="cancelled")
    history = list(office.status_changes.order_by("at", "id").values_list("previous", "status"))
    assert history == [
        ("never_polled", "ok"),
        ("ok", "econnector_down"),
        ("econnector_down", "ok"),
        ("ok", "key_disabled"),
    ]
    assert "eConnector" in office.status_changes.get(status="econnector_down").error


@pytest.mark.django_db(transaction=True)
def test_waiting_for_a_throttle_slot_hands_the_pooled_connection_back(settings, monkeypatch):
    from integrations.offices.services import clients as od

    closed = []
    monkeypatch.setattr(od.connection, "close", lambda: closed.append(True))
    settings.DB_POOL_MAX = 0
    od._sleep_without_db(0.06)
    assert closed == []  # without a pool a reconnect would cost more than it saves
    settings.DB_POOL_MAX = 10
    od._sleep_without_db(0.01)
    assert closed == []  # too short to be worth it
    od._sleep_without_db(0.06)
    assert closed == [True]


def test_a_successful_refresh_clears_a_stale_transient_fault(sandbox_account):
    office = sandbox_account["Queries Office"]
    run_to_end(office)  # health: OK, permissions known
    Office.objects.filter(pk=office.pk).update(
        status=OfficeStatus.TIMED_OUT, last_error="Timeout: an earlier poll", consecutive_failures=2
    )
    assert run_to_end(office, PollKind.AGING).outcome == RunOutcome.OK
    office.refresh_from_db()
    assert (office.status, office.last_error, office.consecutive_failures) == (
        OfficeStatus.OK,
        "",
        0,
    )
    change = office.status_changes.first()
    assert (change.previous, change.status) == (OfficeStatus.TIMED_OUT, OfficeStatus.OK)


def test_a_successful_refresh_leaves_a_key_problem_to_the_health_poll(sandbox_account):
    office = sandbox_account["Queries Office"]
    run_to_end(office)
    Office.objects.filter(pk=office.pk).update(status=OfficeStatus.PERMISSION_MISSING)
    assert run_to_end(office, PollKind.AGING).outcome == RunOutcome.OK
    office.refresh_from_db()
    assert office.status == OfficeStatus.PERMISSION_MISSING
