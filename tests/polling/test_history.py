"""Poll history stays bounded: old runs go in small batches, what the pages read stays."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.utils import timezone

from integrations.offices.models import AgingSnapshot, PollKind, PollRun, RunOutcome
from integrations.offices.services.polling import history, runs
from integrations.offices.tasks import prune_runs_task
from tests.factories import OfficeFactory, PollRunFactory
from tests.helpers import POSTGRES_ONLY


def _run(office, *, days_ago: float, outcome=RunOutcome.OK, kind=PollKind.HEALTH) -> PollRun:
    at = timezone.now() - timedelta(days=days_ago)
    return PollRunFactory(
        office=office, kind=kind, outcome=outcome, queued_at=at, started_at=at, finished_at=at
    )


@pytest.mark.django_db
def test_old_successes_go_failures_stay_longer_latest_and_active_never(settings):
    settings.POLL_RUN_RETENTION_DAYS = 14
    settings.POLL_RUN_FAILURE_RETENTION_DAYS = 60
    office, paused = OfficeFactory(), OfficeFactory()
    old_ok = [_run(office, days_ago=d) for d in (40, 30, 20)]
    old_skipped = _run(office, days_ago=15, outcome=RunOutcome.SKIPPED)
    recent = _run(office, days_ago=1)
    failed_30 = _run(office, days_ago=30, outcome=RunOutcome.FAILED)
    failed_90 = _run(office, days_ago=90, outcome=RunOutcome.FAILED)
    aging_latest = _run(office, days_ago=50, kind=PollKind.AGING)  # only aging run: kept
    paused_latest = _run(paused, days_ago=100)  # a paused office still shows its last poll
    active = PollRun.objects.create(
        office=paused, kind=PollKind.AGING, queued_at=timezone.now() - timedelta(days=99)
    )

    assert history.poll_runs_prune(batch=2) == len(old_ok) + 2  # + skipped + failed_90

    left = set(PollRun.objects.values_list("pk", flat=True))
    assert left == {r.pk for r in (recent, failed_30, aging_latest, paused_latest, active)}
    assert old_skipped.pk not in left and failed_90.pk not in left


@pytest.mark.django_db
def test_a_pruned_run_leaves_its_snapshot():
    office = OfficeFactory()
    old = _run(office, days_ago=30, kind=PollKind.AGING)
    _run(office, days_ago=1, kind=PollKind.AGING)
    snapshot = AgingSnapshot.objects.create(office=office, run=old, as_of=timezone.localdate())

    assert prune_runs_task() == 1  # the beat task runs the same service

    snapshot.refresh_from_db()
    assert snapshot.run is None


@pytest.mark.skipif(connection.vendor != "postgresql", reason=POSTGRES_ONLY)
@pytest.mark.django_db(transaction=True)
def test_pruning_under_concurrent_polling_loses_no_run_and_blocks_no_poll(settings):
    settings.POLL_RUN_PRUNE_BATCH = 500
    offices = [OfficeFactory() for _ in range(20)]
    at = timezone.now() - timedelta(days=30)
    PollRun.objects.bulk_create(
        PollRun(
            office=o,
            kind=PollKind.HEALTH,
            outcome=RunOutcome.OK,
            queued_at=at + timedelta(seconds=i),
            finished_at=at,
        )  # fmt: skip
        for i in range(1000)
        for o in offices
    )
    for office in offices:  # each office's latest run is recent, so every old one may go
        _run(office, days_ago=0.01)
    slowest: list[float] = []
    polled: list[int] = []
    stop = threading.Event()

    def poll_loop() -> None:
        # What a worker does per poll: create the claim row, claim it, finish it.
        try:
            while not stop.is_set():
                for office in offices:
                    started = time.monotonic()
                    run, _ = runs.run_create(office=office, kind=PollKind.HEALTH)
                    claimed = runs.run_claim(run.pk, claimer="t")
                    runs.run_finish(claimed, outcome=RunOutcome.OK)
                    slowest.append(time.monotonic() - started)
                    polled.append(run.pk)
        finally:
            connections.close_all()

    poller = threading.Thread(target=poll_loop)
    poller.start()
    try:
        deleted = history.poll_runs_prune()
    finally:
        stop.set()
        poller.join()

    assert deleted == 20_000
    assert polled and set(polled) <= set(PollRun.objects.values_list("pk", flat=True))
    assert max(slowest) < 1.0, f"a poll waited {max(slowest):.2f} s behind the pruner"
