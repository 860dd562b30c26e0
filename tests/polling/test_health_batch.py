"""Health polls in batches: one event loop for many offices, the same outcomes as one by one."""

from __future__ import annotations

import time

from integrations.offices.models import KeyStatus, OfficeStatus, PollKind, PollRun, RunOutcome
from integrations.offices.services.polling import health_batch, runs
from tests.helpers import run_to_end

NAMES = ["Queries Office", "ReadAll Office", "Down Office", "Disabled Office", "Spare Office"]


def _batch(sandbox_account, names=NAMES) -> tuple[dict[str, PollRun], dict[int, float]]:
    queued = {
        name: runs.run_create(office=sandbox_account[name], kind=PollKind.HEALTH)[0]
        for name in names
    }
    resume = health_batch.health_batch_execute([r.pk for r in queued.values()], claimer="t1")
    for run in queued.values():
        run.refresh_from_db()
    return queued, resume


def test_a_batch_records_each_office_as_its_own_poll_would(sandbox_account):
    done, resume = _batch(sandbox_account)
    offices = {name: run.office for name, run in done.items()}
    for office in offices.values():
        office.refresh_from_db()

    assert done["Queries Office"].outcome == RunOutcome.OK
    assert done["Queries Office"].requests == 5  # the first poll is the full check
    queries = offices["Queries Office"]
    assert set(queries.granted_permissions) == {"ApiReadAll", "ApiQueries"}
    assert queries.program_version and queries.clinics.count() == 3
    assert offices["ReadAll Office"].missing_permissions == ["ApiQueries"]
    assert offices["Down Office"].status == OfficeStatus.ECONNECTOR_DOWN
    # A failed health poll is a status; the next sweep polls again (as one by one).
    assert done["Down Office"].outcome == RunOutcome.FAILED and resume == {}
    assert offices["Disabled Office"].status == OfficeStatus.KEY_DISABLED
    assert offices["Disabled Office"].keys.get(is_current=True).status == (
        KeyStatus.DISABLED_BY_CUSTOMER
    )
    assert offices["Spare Office"].status == OfficeStatus.OK


def test_the_next_batch_is_liveness_only_and_a_claimed_run_is_not_polled_twice(sandbox_account):
    _batch(sandbox_account, ["Queries Office", "Spare Office"])
    done, _ = _batch(sandbox_account, ["Queries Office", "Spare Office"])
    assert [r.requests for r in done.values()] == [1, 1]
    assert all(r.outcome == RunOutcome.OK for r in done.values())

    run, _ = runs.run_create(office=sandbox_account["Spare Office"], kind=PollKind.HEALTH)
    assert runs.run_claim(run.pk, claimer="someone-else") is not None
    assert health_batch.health_batch_execute([run.pk], claimer="t2") == {}
    run.refresh_from_db()
    assert run.outcome == RunOutcome.RUNNING and run.requests == 0  # left to its holder


def test_each_poll_begins_at_its_due_time_and_keeps_its_own_point_of_the_interval(
    sandbox_account,
):
    """A batch's offices recorded at the batch's end would all be due together next time:
    one burst of requests, interval after interval."""
    names = ["Queries Office", "Spare Office"]
    _batch(sandbox_account, names)  # the full checks, so these are liveness polls
    queued = {n: runs.run_create(office=sandbox_account[n], kind=PollKind.HEALTH)[0] for n in names}
    starts = {queued["Queries Office"].pk: None, queued["Spare Office"].pk: time.time() + 1.5}
    began = time.monotonic()
    assert health_batch.health_batch_execute(list(starts), claimer="t3", starts=starts) == {}
    assert time.monotonic() - began >= 1.45  # it waited for the later one's due time
    queries, spare = (sandbox_account[n] for n in names)
    queries.refresh_from_db()
    spare.refresh_from_db()
    gap = (spare.next_health_at - queries.next_health_at).total_seconds()
    assert 1.3 <= gap <= 1.6  # each one interval after its own start
    assert PollRun.objects.get(pk=queued["Spare Office"].pk).outcome == RunOutcome.OK


def _facts(office) -> tuple:
    office.refresh_from_db()
    clinics = sorted(office.clinics.values_list("clinic_num", flat=True))
    return (office.granted_permissions, office.program_version, office.date_last_aging,
            office.aging_service_time_due, clinics)  # fmt: skip


def test_batch_and_single_run_store_the_same_facts(sandbox_account):
    office = sandbox_account["Queries Office"]
    run_to_end(office)
    single = _facts(office)
    office.clinics.all().delete()
    office.__class__.objects.filter(pk=office.pk).update(health_full_at=None)
    _batch(sandbox_account, ["Queries Office"])
    assert _facts(office) == single


def test_a_batch_is_sent_to_wait_for_its_first_due_poll_in_the_broker_not_a_thread(monkeypatch):
    from integrations.offices.services.polling import dispatch

    sent: list[dict] = []
    monkeypatch.setattr(dispatch.app, "send_task", lambda name, **kw: sent.append(kw))
    now = time.time()
    dispatch.runs_send_batch([1, 2], kind=PollKind.HEALTH, starts=[now + 30, now + 40])
    dispatch.runs_send_batch([3, 4], kind=PollKind.HEALTH, starts=[None, now + 40])
    dispatch.runs_send_batch([5], kind=PollKind.HEALTH, starts=[now - 5])
    assert 29 <= sent[0]["countdown"] <= 30 and sent[0]["args"] == [[1, 2], [now + 30, now + 40]]
    assert sent[1]["countdown"] is None  # one of them is due now
    assert sent[2]["countdown"] is None  # late already
