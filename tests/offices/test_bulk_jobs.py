"""Bulk actions on the office list: the request stores one job (audited once), its task (called
as a function) handles each office through the per-office service, a rerun changes nothing,
a crash resumes where it stopped, and the job's page shows progress, then what was skipped."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from unittest import mock

import pytest
from django.db import OperationalError
from django.urls import reverse
from django.utils import timezone

from integrations.accounts.models import AuditEvent, Role
from integrations.offices import tasks
from integrations.offices.models import (
    BulkAction,
    BulkJob,
    BulkJobItem,
    BulkOutcome,
    JobState,
    Office,
    PollKind,
    PollRun,
)
from integrations.offices.services import bulk
from integrations.offices.services.polling import dispatch
from tests.factories import (
    CustomerKeyFactory,
    DeveloperAccountFactory,
    MembershipFactory,
    OfficeFactory,
    UserFactory,
)

URL = "/offices/bulk/"
HX = {"HX-Request": "true"}


def _keyed(account, *names: str) -> list[Office]:
    offices = [OfficeFactory(account=account, name=n) for n in names]
    for office in offices:
        CustomerKeyFactory(office=office)
    return offices


def _post(client, action: str, offices=(), **extra):
    data = {"action": action, "office": [str(o.public_id) for o in offices], **extra}
    return client.post(URL, data)


def _run(job: BulkJob) -> BulkJob:
    tasks.bulk_job_task(job.pk)
    job.refresh_from_db()
    return job


def _outcomes(job: BulkJob) -> dict[str, str]:
    return {i.office.name: i.outcome for i in job.items.select_related("office")}


def test_ticked_offices_become_one_job_audited_once_and_sent_on_commit(
    owner_client, owner, account, django_capture_on_commit_callbacks
):
    a, b, _c = _keyed(account, "A", "B", "C")
    with (
        mock.patch.object(bulk.app, "send_task") as send,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = _post(owner_client, BulkAction.POLL, [a, b])
    job = BulkJob.objects.get()
    assert response.status_code == 302 and response.url == reverse("bulk_job", args=[job.public_id])
    assert send.call_args.args[0] == bulk.BULK_TASK and send.call_args.kwargs["args"] == [job.pk]
    assert (job.state, job.total, job.selection) == (JobState.QUEUED, 2, "2 ticked offices")
    assert not PollRun.objects.exists()  # the request only stored the job
    event = AuditEvent.objects.get(action="bulk.poll")
    assert (event.actor, event.account, event.detail["offices"]) == (owner, account, 2)


def test_poll_job_queues_a_health_poll_per_office_through_poll_now(account, owner):
    keyed = _keyed(account, "A", "B")
    bare = OfficeFactory(account=account, name="No key")
    dispatch.poll_enqueue(office=keyed[1], kind=PollKind.HEALTH)  # B already has one queued
    job = bulk.bulk_job_create(
        actor=owner, action=BulkAction.POLL, offices=Office.objects.all(), selection="x",
        send=False,
    )  # fmt: skip
    job = _run(job)
    assert job.state == JobState.DONE
    assert (job.processed, job.done, job.skipped, job.failed) == (3, 1, 1, 1)
    assert _outcomes(job) == {"A": "done", "B": "skipped", "No key": "failed"}
    run = PollRun.objects.get(office=keyed[0])
    assert (run.kind, run.requested_by) == (PollKind.HEALTH, owner)
    assert not PollRun.objects.filter(office=bare).exists()
    assert job.items.get(office=bare).message == dispatch.NO_KEY_TO_POLL


def test_aging_job_queues_aging_refreshes(account, owner):
    _keyed(account, "A", "B")
    job = bulk.bulk_job_create(
        actor=owner, action=BulkAction.AGING, offices=Office.objects.all(), selection="x",
        send=False,
    )  # fmt: skip
    _run(job)
    assert sorted(PollRun.objects.values_list("kind", flat=True)) == [PollKind.AGING] * 2


def test_pause_and_resume_go_through_office_update_with_one_audit_event(account, owner):
    on = OfficeFactory(account=account, name="On")
    off = OfficeFactory(account=account, name="Off", polling_enabled=False)
    job = bulk.bulk_job_create(
        actor=owner, action=BulkAction.PAUSE, offices=Office.objects.all(), selection="x",
        send=False,
    )  # fmt: skip
    job = _run(job)
    assert _outcomes(job) == {"On": "done", "Off": "skipped"}
    assert not Office.objects.filter(polling_enabled=True).exists()
    resume = bulk.bulk_job_create(
        actor=owner, action=BulkAction.RESUME, offices=Office.objects.filter(pk=on.pk),
        selection="x", send=False,
    )  # fmt: skip
    _run(resume)
    assert (
        Office.objects.get(pk=on.pk).polling_enabled
        and not Office.objects.get(pk=off.pk).polling_enabled
    )
    # One event per bulk action, none per office.
    assert list(AuditEvent.objects.order_by("id").values_list("action", flat=True)) == [
        "bulk.pause", "bulk.resume",
    ]  # fmt: skip


def test_an_office_failing_validation_fails_alone_with_the_reason(account, owner):
    bad = OfficeFactory(account=account, name="Bad")
    OfficeFactory(account=account, name="Good")
    Office.objects.filter(pk=bad.pk).update(health_interval_s=0)  # an old row the form refuses
    job = _run(bulk.bulk_job_create(
        actor=owner, action=BulkAction.PAUSE, offices=Office.objects.all(), selection="x",
        send=False,
    ))  # fmt: skip
    assert _outcomes(job) == {"Bad": "failed", "Good": "done"}
    assert "60 seconds" in job.items.get(office=bad).message


def test_the_task_run_again_changes_nothing(account, owner):
    _keyed(account, "A", "B")
    job = bulk.bulk_job_create(
        actor=owner, action=BulkAction.POLL, offices=Office.objects.all(), selection="x",
        send=False,
    )  # fmt: skip
    _run(job)
    job = _run(job)
    assert (job.processed, job.done) == (2, 2)
    assert PollRun.objects.count() == 2


def test_a_crash_mid_job_resumes_at_the_first_waiting_office(account, owner, monkeypatch):
    _keyed(account, "A", "B", "C")
    job = bulk.bulk_job_create(
        actor=owner, action=BulkAction.POLL, offices=Office.objects.order_by("name"),
        selection="x", send=False,
    )  # fmt: skip
    real, calls = bulk.HANDLERS[BulkAction.POLL], []

    def crash_once_on_b(office, actor):
        calls.append(office.name)
        if office.name == "B" and calls.count("B") == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real(office, actor)

    monkeypatch.setitem(bulk.HANDLERS, BulkAction.POLL, crash_once_on_b)
    with pytest.raises(OperationalError):  # the task's autoretry (same task id) runs it again
        bulk.bulk_job_run(job.pk, claimer="task-1")
    job.refresh_from_db()
    assert (job.state, job.processed) == (JobState.RUNNING, 1)
    bulk.bulk_job_run(job.pk, claimer="task-1")  # its own claim: taken back at once
    job.refresh_from_db()
    assert (job.state, job.processed, job.done, job.attempts) == (JobState.DONE, 3, 3, 2)
    assert calls == ["A", "B", "B", "C"]  # A was not handled twice
    assert PollRun.objects.count() == 3


def test_another_workers_copy_leaves_a_live_job_alone(account, owner):
    _keyed(account, "A")
    job = bulk.bulk_job_create(
        actor=owner, action=BulkAction.POLL, offices=Office.objects.all(), selection="x",
        send=False,
    )  # fmt: skip
    BulkJob.objects.filter(pk=job.pk).update(
        state=JobState.RUNNING, claimed_by="task-1", heartbeat_at=timezone.now()
    )
    bulk.bulk_job_run(job.pk, claimer="task-2")
    job.refresh_from_db()
    assert (job.processed, job.claimed_by) == (0, "task-1") and not PollRun.objects.exists()


def test_an_unexpected_error_fails_that_office_only(account, owner, monkeypatch):
    _keyed(account, "A", "B")
    real = bulk.HANDLERS[BulkAction.POLL]

    def broken_a(office, actor):
        if office.name == "A":
            raise RuntimeError("surprise")
        return real(office, actor)

    monkeypatch.setitem(bulk.HANDLERS, BulkAction.POLL, broken_a)
    job = _run(bulk.bulk_job_create(
        actor=owner, action=BulkAction.POLL, offices=Office.objects.all(), selection="x",
        send=False,
    ))  # fmt: skip
    assert job.state == JobState.DONE and _outcomes(job) == {"A": "failed", "B": "done"}
    assert job.items.get(outcome="failed").message == "Unexpected error (logged)."


def test_a_stale_job_is_sent_again_by_the_beat(account, owner, settings):
    _keyed(account, "A")
    job = bulk.bulk_job_create(
        actor=owner, action=BulkAction.POLL, offices=Office.objects.all(), selection="x",
        send=False,
    )  # fmt: skip
    BulkJob.objects.filter(pk=job.pk).update(queued_at=timezone.now() - timedelta(hours=1))
    with mock.patch.object(bulk.app, "send_task") as send:
        assert tasks.bulk_jobs_resume_task() == 1
    assert send.call_args.kwargs["args"] == [job.pk]


def test_a_broker_outage_fails_the_job_saying_workers_are_unavailable(
    owner_client, account, django_capture_on_commit_callbacks
):
    (a,) = _keyed(account, "A")
    down = mock.patch.object(bulk.dispatch, "broker_producer", side_effect=OSError("refused"))
    with down, django_capture_on_commit_callbacks(execute=True):
        response = _post(owner_client, BulkAction.POLL, [a])
    job = BulkJob.objects.get()
    assert (job.state, job.error) == (JobState.FAILED, bulk.WORKERS_DOWN)
    assert "Workers unavailable" in owner_client.get(response.url).content.decode()


def test_all_matching_takes_the_filter_and_only_accounts_the_user_may_act_on(
    owner_client, owner, account
):
    _keyed(account, "Smile A", "Smile B", "Other")
    viewed = DeveloperAccountFactory()
    MembershipFactory(account=viewed, user=owner, role=Role.VIEWER)
    OfficeFactory(account=viewed, name="Smile viewed")
    with mock.patch.object(bulk.app, "send_task"):
        _post(owner_client, BulkAction.EXPORT, scope="all", q="smile", sort="name", dir="desc")
    job = BulkJob.objects.get()
    assert list(job.items.values_list("office__name", flat=True)) == ["Smile B", "Smile A"]
    assert job.selection == "all offices matching search “smile”"


def test_export_job_downloads_the_list_columns_in_its_order(owner_client, owner, account):
    a, b = _keyed(account, "=SUM(A1)", "Zed")
    with mock.patch.object(bulk.app, "send_task"):
        _post(owner_client, BulkAction.EXPORT, [b, a], sort="name", dir="desc")
    job = _run(BulkJob.objects.get())
    page = owner_client.get(reverse("bulk_job", args=[job.public_id])).content.decode()
    csv_url = reverse("bulk_job_csv", args=[job.public_id])
    assert csv_url in page
    response = owner_client.get(csv_url)
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    assert response["Content-Disposition"].startswith('attachment; filename="offices-')
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert rows[0][:3] == ["name", "reference", "account"]
    assert [r[0] for r in rows[1:]] == ["Zed", "'=SUM(A1)"]
    assert rows[1][6] == b.keys.get().last4


def test_nothing_ticked_is_refused_with_a_message_keeping_the_filter(owner_client, office):
    response = _post(owner_client, BulkAction.POLL, q="smile", per_page="100")
    assert response.status_code == 302 and response.url == "/offices/?q=smile&per_page=100"
    assert not BulkJob.objects.exists()
    assert "Tick the offices" in owner_client.get(response.url).content.decode()


def test_viewers_see_no_ticks_and_cannot_post(client, teammate, office):
    client.force_login(teammate)
    body = client.get("/offices/").content.decode()
    assert 'name="office"' not in body and "bulk-form" not in body
    assert _post(client, BulkAction.PAUSE, [office]).status_code == 403
    assert not BulkJob.objects.exists()
    assert Office.objects.get(pk=office.pk).polling_enabled


def test_an_outsider_cannot_act_on_or_see_another_teams_job(client, outsider, owner, office):
    job = bulk.bulk_job_create(
        actor=owner, action=BulkAction.PAUSE, offices=Office.objects.all(), selection="x",
        send=False,
    )  # fmt: skip
    MembershipFactory(user=outsider, role=Role.OWNER)  # an owner of their own account
    client.force_login(outsider)
    assert client.get(reverse("bulk_job", args=[job.public_id])).status_code == 404
    with mock.patch.object(bulk.app, "send_task"):
        response = _post(client, BulkAction.PAUSE, [office])
    assert response.status_code == 302 and BulkJob.objects.count() == 1  # nothing picked
    assert Office.objects.get(pk=office.pk).polling_enabled


def test_owners_and_operators_see_ticks_only_on_offices_they_may_act_on(client, office):
    user = UserFactory()
    MembershipFactory(account=office.account, user=user, role=Role.OPERATOR)
    viewed = OfficeFactory(account=MembershipFactory(user=user, role=Role.VIEWER).account)
    client.force_login(user)
    body = client.get("/offices/").content.decode()
    assert f'value="{office.public_id}"' in body and f'value="{viewed.public_id}"' not in body


def test_the_job_page_polls_while_running_and_answers_286_when_done(owner_client, owner, office):
    job = bulk.bulk_job_create(
        actor=owner, action=BulkAction.PAUSE, offices=Office.objects.all(), selection="x",
        send=False,
    )  # fmt: skip
    url = reverse("bulk_job", args=[job.public_id])
    running = owner_client.get(url, headers=HX)
    assert running.status_code == 200 and 'hx-trigger="every 1s"' in running.content.decode()
    assert "<html" not in running.content.decode()
    _run(job)
    BulkJobItem.objects.update(outcome=BulkOutcome.SKIPPED, message="Polling was already paused.")
    done = owner_client.get(url, headers=HX)
    body = done.content.decode()
    assert done.status_code == 286 and "every 1s" not in body
    assert "Polling was already paused." in body and office.name in body


def test_offices_of_two_accounts_are_refused_asking_to_filter_by_account(
    owner_client, owner, account
):
    (a,) = _keyed(account, "A")
    second = DeveloperAccountFactory()
    MembershipFactory(account=second, user=owner, role=Role.OPERATOR)
    (b,) = _keyed(second, "B")
    response = _post(owner_client, BulkAction.PAUSE, [a, b])
    assert response.status_code == 302 and not BulkJob.objects.exists()
    page = owner_client.get(response.url).content.decode()
    assert "belong to 2 developer accounts" in page
    assert not AuditEvent.objects.exists()
    assert Office.objects.filter(polling_enabled=True).count() == 2


def test_a_viewer_of_the_account_may_not_follow_its_jobs(client, teammate, owner, office):
    job = bulk.bulk_job_create(
        actor=owner, action=BulkAction.EXPORT, offices=Office.objects.all(), selection="x",
        send=False,
    )  # fmt: skip
    client.force_login(teammate)
    assert client.get(reverse("bulk_job", args=[job.public_id])).status_code == 403
    assert client.get(reverse("bulk_job_csv", args=[job.public_id])).status_code == 403


def test_all_matching_with_an_invalid_filter_acts_on_nothing(owner_client, office):
    response = _post(owner_client, BulkAction.PAUSE, scope="all", q="x" * 101, status="ok")
    assert response.status_code == 302 and not BulkJob.objects.exists()
    assert "filter is not valid" in owner_client.get(response.url).content.decode()
    assert Office.objects.get(pk=office.pk).polling_enabled


def test_all_matching_counts_only_the_offices_the_user_may_act_on(owner_client, owner, account):
    OfficeFactory(account=account, name="Mine")
    viewed = DeveloperAccountFactory()
    MembershipFactory(account=viewed, user=owner, role=Role.VIEWER)
    OfficeFactory(account=viewed, name="Viewed 1")
    OfficeFactory(account=viewed, name="Viewed 2")
    body = owner_client.get("/offices/").content.decode()
    assert "All 1 matching you may act on" in body and "3 offices" in body
