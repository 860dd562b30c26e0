"""Batched daily aging refreshes (one event loop, shared writes) against the live sandbox."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import date, time, timedelta
from unittest import mock
from zoneinfo import ZoneInfo

from django.utils import timezone

from integrations.offices.models import (
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
from integrations.offices.services.aging import recipe, snapshots
from integrations.offices.services.polling import batch, dispatch, execute, runs, sweep
from tests.helpers import BUCKET_MAP, assert_matches_sandbox, run_to_end


@contextmanager
def dead_broker():
    """A real producer for a broker nobody listens to (connecting fails, as when it is down)."""
    from odportal.celery import app

    with app.connection_for_write("redis://127.0.0.1:1/0") as connection:
        connection.ensure_connection(**dispatch.BROKER_FAIL_FAST)
        yield connection.Producer()


def queue_aging(*offices) -> list[int]:
    return [dispatch.poll_enqueue(office=o, kind=PollKind.AGING, send=False)[0].pk for o in offices]


def checked(sandbox_account, *names):
    """The offices, each health-polled first (as the sweep requires before aging)."""
    offices = [sandbox_account[name] for name in names]
    for office in offices:
        run_to_end(office)
        office.refresh_from_db()
    return offices


def test_a_batch_refreshes_every_office_as_its_own_run_would(sandbox_account, sandbox_totals):
    queries, read_all, spare = checked(
        sandbox_account, "Queries Office", "ReadAll Office", "Spare Office"
    )
    before = timezone.now()
    run_ids = queue_aging(queries, read_all, spare)
    assert batch.batch_execute(run_ids, claimer="batch-1") == {}
    done = {r.office_id: r for r in PollRun.objects.filter(pk__in=run_ids)}
    for office, rows, source in (
        (queries, 230, SnapshotSource.SHORT_QUERY),
        (spare, 120, SnapshotSource.SHORT_QUERY),
        (read_all, 40, SnapshotSource.REPORTS_AGING),
    ):
        office.refresh_from_db()
        run = done[office.pk]
        assert run.outcome == RunOutcome.OK, run.error
        assert run.rows == rows and run.finished_at is not None
        snapshot = office.current_snapshot
        assert snapshot.run_id == run.pk and snapshot.state == SnapshotState.COMPLETE
        assert snapshot.source == source and snapshot.as_of == office.date_last_aging
        assert AgingRow.objects.filter(snapshot=snapshot).count() == rows
        expected = sandbox_totals(office.manifest["customer_key"])
        if source == SnapshotSource.SHORT_QUERY:
            assert_matches_sandbox(snapshot, expected)
        else:  # the report has no clinic breakdown here
            assert snapshot.guarantor_count == expected["all"]["guarantors"]
        assert office.aging_total == snapshot.bal_total
        assert office.aging_over_90 == snapshot.bal_over_90
        assert office.next_aging_at > before + timedelta(hours=1)  # tomorrow's, after aging
    # Per office, the requests a single run makes: permissions are known from the health
    # poll, so DateLastAging, then the pages (230 rows: 100 + 100 + 30).
    assert done[queries.pk].requests == 1 + 3 and done[spare.pk].requests == 1 + 2


def test_a_fault_stays_with_its_office_and_the_others_complete(
    sandbox_account, sandbox_control, settings
):
    settings.RUN_MAX_ATTEMPTS = 5
    queries, spare, down, disabled = checked(
        sandbox_account, "Queries Office", "Spare Office", "Down Office", "Disabled Office"
    )
    for office in (down, disabled):  # as if they had passed a health poll
        office.granted_permissions = ["ApiReadAll", "ApiQueries"]
        office.save(update_fields=["granted_permissions"])
    sandbox_control(spare.manifest["customer_key"], status_500=True)
    run_ids = queue_aging(queries, spare, down, disabled)
    resume = batch.batch_execute(run_ids, claimer="batch-1")
    by_office = {r.office_id: r for r in PollRun.objects.filter(pk__in=run_ids)}
    for office in (queries, spare, down, disabled):
        office.refresh_from_db()
    assert by_office[queries.pk].outcome == RunOutcome.OK
    assert queries.current_snapshot.state == SnapshotState.COMPLETE
    # Transient faults: the run is handed back, to resume after a backoff.
    handed_back = {by_office[spare.pk].pk, by_office[down.pk].pk}
    assert set(resume) == handed_back and all(s > 0 for s in resume.values())
    spare_run, down_run = by_office[spare.pk], by_office[down.pk]
    assert spare_run.outcome == RunOutcome.QUEUED and "500" in spare_run.error
    assert spare.status == OfficeStatus.OD_ERROR and spare.current_snapshot is None
    assert down_run.outcome == RunOutcome.QUEUED and "eConnector" in down_run.error
    assert down.status == OfficeStatus.ECONNECTOR_DOWN
    # A disabled key is permanent: the run ends, the status says why.
    disabled_run = by_office[disabled.pk]
    assert disabled_run.outcome == RunOutcome.FAILED and disabled_run.status_code is not None
    assert disabled.status == OfficeStatus.KEY_DISABLED and disabled.current_snapshot is None


def test_a_handed_back_run_resumes_in_the_single_run_task_after_its_stored_rows(
    sandbox_account, sandbox_control, sandbox_totals, settings
):
    (spare,) = checked(sandbox_account, "Spare Office")
    count = runs.RequestCounter.__call__

    def count_then_break(counter, *args):
        count(counter, *args)
        if counter.run.requests == 2:  # DateLastAging and the first page: the rest fails
            sandbox_control(spare.manifest["customer_key"], status_500=True)

    (run_id,) = queue_aging(spare)
    with mock.patch.object(runs.RequestCounter, "__call__", count_then_break):
        resume = batch.batch_execute([run_id], claimer="batch-1")
    assert list(resume) == [run_id]
    snapshot = AgingSnapshot.objects.get(run_id=run_id)
    assert snapshot.state == SnapshotState.BUILDING and snapshot.rows.count() == 100
    sandbox_control(spare.manifest["customer_key"], reset=True)
    assert execute.run_execute(run_id) is None  # what the task re-queues
    run = PollRun.objects.get(pk=run_id)
    spare.refresh_from_db()
    assert run.outcome == RunOutcome.OK and spare.current_snapshot == snapshot
    assert snapshot.rows.count() == 120
    assert_matches_sandbox(spare.current_snapshot, sandbox_totals(spare.manifest["customer_key"]))


def test_a_redelivered_batch_continues_its_runs_after_their_stored_rows(
    sandbox_account, sandbox_totals
):
    (queries,) = checked(sandbox_account, "Queries Office")
    first = run_to_end(queries, PollKind.AGING)
    complete = AgingSnapshot.objects.get(run=first)
    # A batch killed mid-way: its run still held by it, its snapshot holding 150 rows.
    (run_id,) = queue_aging(queries)
    runs.runs_claim([run_id], claimer="batch-1")
    partial = AgingSnapshot.objects.create(
        office=queries, run_id=run_id, source=complete.source, as_of=complete.as_of
    )
    first_rows = complete.rows.order_by("pat_num").values(*snapshots.ROW_FIELDS)[:150]
    AgingRow.objects.bulk_create([AgingRow(snapshot=partial, **row) for row in first_rows])
    assert batch.batch_execute([run_id], claimer="another-batch") == {}
    assert PollRun.objects.get(pk=run_id).outcome == RunOutcome.RUNNING  # not theirs
    # Redelivered (same task id): it takes its run back and fetches only what is missing.
    assert batch.batch_execute([run_id], claimer="batch-1") == {}
    run = PollRun.objects.get(pk=run_id)
    partial.refresh_from_db()
    queries.refresh_from_db()
    assert run.outcome == RunOutcome.OK and run.requests == 1  # rows 150-229: one page
    assert queries.current_snapshot == partial and partial.rows.count() == 230
    assert_matches_sandbox(partial, sandbox_totals(queries.manifest["customer_key"]))
    # Done: executing the batch again changes nothing.
    assert batch.batch_execute([run_id], claimer="batch-1") == {}
    assert PollRun.objects.get(pk=run_id).finished_at == run.finished_at


def test_an_unfinished_snapshot_of_the_same_day_is_resumed_not_duplicated(
    sandbox_account, sandbox_totals
):
    (spare,) = checked(sandbox_account, "Spare Office")
    first = run_to_end(spare, PollKind.AGING)
    complete = AgingSnapshot.objects.get(run=first)
    partial = AgingSnapshot.objects.create(
        office=spare, source=complete.source, as_of=complete.as_of
    )
    first_rows = complete.rows.order_by("pat_num").values(*snapshots.ROW_FIELDS)[:100]
    AgingRow.objects.bulk_create([AgingRow(snapshot=partial, **row) for row in first_rows])
    (run_id,) = queue_aging(spare)
    assert batch.batch_execute([run_id], claimer="batch-1") == {}
    partial.refresh_from_db()
    spare.refresh_from_db()
    assert partial.run_id == run_id and spare.current_snapshot == partial
    assert partial.rows.count() == 120 and partial.state == SnapshotState.COMPLETE
    for ours, theirs in BUCKET_MAP.items():
        assert str(getattr(partial, ours)) == str(getattr(complete, ours)), f"{ours} ({theirs})"
    assert_matches_sandbox(partial, sandbox_totals(spare.manifest["customer_key"]))


def test_before_todays_aging_has_run_the_refresh_waits(sandbox_account):
    (queries,) = checked(sandbox_account, "Queries Office")
    # The sandbox's DateLastAging is its machine's date. An office far enough east or west
    # is already on another day, whose aging (due at 23:00 there) has not run yet.
    now = timezone.now()
    # UTC+14 is on another date from 10:00 UTC on, UTC-12 before it (and before 22:00 there):
    # one of them always is (Pago Pago, UTC-11, missed 09:00-10:00 UTC).
    zone = next(
        name
        for name in ("Pacific/Kiritimati", "Etc/GMT+12")
        if (local := now.astimezone(ZoneInfo(name))).date() != date.today() and local.hour < 22
    )
    Office.objects.filter(pk=queries.pk).update(time_zone=zone, aging_service_time_due=time(23))
    queries.refresh_from_db()
    (run_id,) = queue_aging(queries)
    assert batch.batch_execute([run_id], claimer="batch-1") == {}
    run = PollRun.objects.get(pk=run_id)
    queries.refresh_from_db()
    assert run.outcome == RunOutcome.SKIPPED and "Waiting" in run.error
    assert queries.next_aging_at == recipe.aging_due_at(queries, recipe.office_today(queries))
    assert queries.current_snapshot is None and not AgingSnapshot.objects.filter(run=run)


def test_the_sweep_sends_due_aging_refreshes_in_batches(sandbox_account, settings):
    settings.AGING_BATCH_SIZE = 2
    offices = checked(sandbox_account, "Queries Office", "ReadAll Office", "Spare Office")
    Office.objects.filter(pk__in=[o.pk for o in offices]).update(next_aging_at=None)
    with mock.patch.object(dispatch, "runs_send_batch", wraps=dispatch.runs_send_batch) as send:
        queued = sweep.sweep_due_offices()
    assert queued["aging"] == 3 and queued["failed"] == 0
    # (The sweep's health polls of the other offices go in batches of their own.)
    sent = [c.args[0] for c in send.call_args_list if c.kwargs["kind"] == PollKind.AGING]
    assert [len(ids) for ids in sent] == [2, 1]
    aging_runs = PollRun.objects.filter(kind=PollKind.AGING, outcome=RunOutcome.QUEUED)
    assert sorted(sum(sent, [])) == sorted(aging_runs.values_list("pk", flat=True))
    assert all(o.next_aging_at for o in Office.objects.filter(pk__in=[o.pk for o in offices]))


def test_with_the_broker_down_the_batch_fails_clearly_and_the_offices_stay_due(
    sandbox_account, settings
):
    offices = checked(sandbox_account, "Queries Office", "Spare Office")
    Office.objects.filter(pk__in=[o.pk for o in offices]).update(next_aging_at=None)
    with mock.patch.object(dispatch, "broker_producer", dead_broker):
        queued = sweep.sweep_due_offices()
    assert queued["failed"] >= 1
    failed = PollRun.objects.filter(kind=PollKind.AGING)
    assert failed.count() == 2
    assert all(r.outcome == RunOutcome.FAILED and "Workers unavailable" in r.error for r in failed)
    assert not Office.objects.filter(pk__in=[o.pk for o in offices], next_aging_at__isnull=False)


def test_a_bug_in_one_refresh_hands_its_run_back_and_spares_the_others(sandbox_account):
    queries, spare = checked(sandbox_account, "Queries Office", "Spare Office")
    real = recipe.rows_from_query
    calls = []

    def first_call_breaks(page):
        calls.append(1)
        if len(calls) == 1:
            raise ZeroDivisionError("a bug")
        return real(page)

    run_ids = queue_aging(queries, spare)
    with mock.patch.object(recipe, "rows_from_query", first_call_breaks):
        resume = batch.batch_execute(run_ids, claimer="batch-1")
    outcomes = {r.pk: r for r in PollRun.objects.filter(pk__in=run_ids)}
    (broken,) = resume
    assert resume[broken] == 60.0
    assert outcomes[broken].outcome == RunOutcome.QUEUED
    assert outcomes[broken].error == "Internal error: ZeroDivisionError"
    (other,) = set(run_ids) - {broken}
    assert outcomes[other].outcome == RunOutcome.OK
