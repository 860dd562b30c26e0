"""Imports in the background: the upload checked and queued, the job run by its task (called as
a function), resumed after a crash, and its page (progress polled by htmx, then the results).

The same import through a real worker process is in test_import_worker.py.
"""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import OperationalError
from django.urls import reverse
from django.utils import timezone

from integrations.accounts.models import AuditEvent, Role
from integrations.offices import tasks
from integrations.offices.models import (
    CustomerKey,
    ImportJob,
    ImportJobRow,
    ImportOutcome,
    JobState,
    Office,
)
from integrations.offices.services import imports
from odportal.lib import crypto
from tests.factories import ImportJobFactory, MembershipFactory, UserFactory, random_key

HEADER = "name,customer_key,api_mode,base_url,time_zone,reference,notes"
HX = {"HX-Request": "true"}
TYPED_URL = "http://127.0.0.1:9/api/v1"


def _csv(*rows: str) -> str:
    return "\n".join([HEADER, *rows]) + "\n"


def _offices(count: int) -> str:
    """A CSV of ``count`` good rows (lines 2 .. count + 1)."""
    return _csv(*(f"Office {n:03},{random_key()},remote,,UTC,R-{n:03}," for n in range(count)))


def _post(client, account, content: bytes | str, name: str = "offices.csv", **data):
    body = content.encode() if isinstance(content, str) else content
    upload = SimpleUploadedFile(name, body, content_type="text/csv")
    return client.post(
        reverse("account_import", args=[account.public_id]), {"file": upload, **data}
    )


def _job(account, owner, source: str, **kwargs) -> ImportJob:
    return imports.import_job_create(
        account=account, actor=owner, source=source, filename="o.csv", send=False, **kwargs
    )


def _run(job: ImportJob) -> ImportJob:
    """Run the task as the worker would (a function call here), then re-read the job."""
    tasks.import_job_task(job.pk)
    job.refresh_from_db()
    return job


def _fail_at(monkeypatch, number: int, exc: Exception, times: int = 1) -> None:
    """Make the row on CSV line ``number`` raise ``exc`` (``times`` times), as a crash would."""
    real, left = imports._import_one, [times]

    def import_one(**kwargs):
        if kwargs["number"] == number and left[0]:
            left[0] -= 1
            raise exc
        return real(**kwargs)

    monkeypatch.setattr(imports, "_import_one", import_one)


def _state(job: ImportJob) -> tuple:
    job.refresh_from_db()
    counts = (Office.objects.count(), CustomerKey.objects.count(), AuditEvent.objects.count())
    fields = (job.state, job.processed_rows, job.created, job.skipped, job.rejected, job.error)
    return (*counts, ImportJobRow.objects.filter(job=job).count(), *fields, job.finished_at)


# --- the upload page ---------------------------------------------------------------------------


def test_a_valid_upload_is_stored_encrypted_queued_on_commit_and_imported_by_the_task(
    owner_client, account, owner, django_capture_on_commit_callbacks
):
    key = random_key()
    source = _csv(f"Up Clinic,{key},remote,,,,", "Bad,short,remote,,,,")
    with (
        mock.patch.object(imports.app, "send_task") as send,
        django_capture_on_commit_callbacks(execute=True) as callbacks,
    ):
        response = _post(owner_client, account, source)
    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("import_job", args=[job.public_id])
    assert len(callbacks) == 1
    assert send.call_args.args[0] == imports.IMPORT_TASK
    assert send.call_args.kwargs["args"] == [job.pk]
    assert (job.state, job.total_rows, job.processed_rows) == (JobState.QUEUED, 2, 0)
    assert not Office.objects.exists()  # the request only checked and stored the file
    assert key not in job.payload_encrypted and key in crypto.decrypt(job.payload_encrypted)
    start = AuditEvent.objects.get(action="import.start")
    assert start.actor == owner and start.detail == {"filename": "offices.csv", "format": "csv",
                                                     "rows": 2}  # fmt: skip

    job = _run(job)
    assert job.state == JobState.DONE
    assert job.summary == "2 rows: 1 created, 0 skipped, 1 rejected"
    assert job.payload_encrypted == ""  # the upload's keys are not kept once imported
    assert Office.objects.get().name == "Up Clinic"
    finish = AuditEvent.objects.get(action="import.finish")
    assert finish.actor == owner and finish.object_id == str(job.public_id)
    assert (finish.detail["state"], finish.detail["created"], finish.detail["rejected"]) == (
        "done", 1, 1
    )  # fmt: skip


def _big_csv() -> str:
    rows = (f"Office {n},Key{n:013}" for n in range(imports.MAX_ROWS + 1))
    return "name,customer_key\n" + "\n".join(rows)


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        ("a,b\n1,2\n", "x.csv", "The CSV header lacks name, customer_key"),
        (b"\xff\xfe\x00bad", "x.csv", "The file is not UTF-8 text."),
        ("{not json", "x.json", "The JSON file is not valid (line 1)."),
        ('{"x": 1}', "x.json", 'The JSON file is not a sandbox manifest (no "offices" list).'),
        ("", "x.csv", "The submitted file is empty."),
        (b"x" * (5 * 1024 * 1024 + 1), "x.csv", "The file is larger than 5 MB."),
        (_big_csv(), "x.csv", "Too many rows (10001); import at most 10000."),
    ],
    ids=["header", "encoding", "json", "manifest", "empty", "size", "rows"],
)
def test_a_bad_upload_gets_a_clear_error_on_the_file_and_keeps_what_was_typed(
    owner_client, account, content, name, message
):
    response = _post(owner_client, account, content, name, base_url=TYPED_URL)
    assert response.status_code == 200
    assert message in response.context["form"].errors["file"][0]
    assert f'value="{TYPED_URL}"' in response.content.decode()
    assert not ImportJob.objects.exists() and not AuditEvent.objects.exists()


def test_a_second_upload_while_one_is_under_way_is_refused_with_a_message(
    owner_client, account, owner
):
    first = _job(account, owner, _offices(2))
    response = _post(owner_client, account, _offices(1), base_url=TYPED_URL)
    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [
        "An import into this account is under way; wait until it has finished."
    ]
    assert f'value="{TYPED_URL}"' in response.content.decode()
    assert ImportJob.objects.count() == 1
    _run(first)
    with mock.patch.object(imports.app, "send_task"):
        assert _post(owner_client, account, _offices(1)).status_code == 302


def test_the_import_page_lists_recent_imports_in_a_fixed_number_of_queries(
    owner_client, account, owner, django_assert_num_queries
):
    ImportJobFactory.create_batch(3, account=account, requested_by=owner)
    url = reverse("account_import", args=[account.public_id])
    with django_assert_num_queries(6):  # session, user, account, role, jobs, heartbeats
        response = owner_client.get(url)
    ImportJobFactory.create_batch(9, account=account, requested_by=UserFactory())
    with django_assert_num_queries(6):
        response = owner_client.get(url)
    assert response.content.decode().count('href="/imports/') == 10


# --- the job page ------------------------------------------------------------------------------


def test_the_job_page_polls_while_the_job_runs_and_answers_286_with_the_results_when_done(
    owner_client, account, owner
):
    key, bad = random_key(), random_key()
    source = _csv(f"Up Clinic,{key},remote,,,,", f"Zone,{bad},remote,,Nowhere/Land,,")
    job = _job(account, owner, source)
    url = reverse("import_job", args=[job.public_id])
    queued = owner_client.get(url, headers=HX)
    body = queued.content.decode()
    assert queued.status_code == 200 and "<html" not in body  # the partial
    assert f'hx-get="{url}" hx-trigger="every 1s"' in body and "Queued" in body

    _run(job)
    done = owner_client.get(url, headers=HX)
    body = done.content.decode()
    assert done.status_code == 286  # htmx stops polling
    assert "hx-trigger" not in body
    assert "2 rows: 1 created, 0 skipped, 1 rejected" in body
    assert "Up Clinic" in body and "Unknown time zone" in body
    assert key not in body and bad not in body and f"…{key[-4:]}" in body
    page = owner_client.get(url)
    assert page.status_code == 200 and "<html" in page.content.decode()
    assert "HX-Request" in page["Vary"]


def test_the_job_page_needs_login_and_an_acting_member_of_its_team(
    client, account, owner, teammate, outsider
):
    operator = MembershipFactory(account=account, user=UserFactory(), role=Role.OPERATOR).user
    url = reverse("import_job", args=[ImportJobFactory(account=account).public_id])
    response = client.get(url)
    assert response.status_code == 302 and response.url.startswith(reverse("login"))
    for user, status in {owner: 200, operator: 200, teammate: 403, outsider: 404}.items():
        client.force_login(user)
        assert client.get(url).status_code == status, user
        assert client.get(url, headers=HX).status_code == (286 if status == 200 else status)
    assert client.post(url).status_code == 405


def test_the_results_are_paged(owner_client, account):
    job = ImportJobFactory(account=account, total_rows=501, processed_rows=501, skipped=501)
    ImportJobRow.objects.bulk_create(
        ImportJobRow(job=job, number=n, name=f"Row {n}", outcome=ImportOutcome.SKIPPED)
        for n in range(2, 503)
    )
    url = reverse("import_job", args=[job.public_id])
    first = owner_client.get(url).content.decode()
    assert "Page 1 of 2 · 501 rows" in first and "Row 501<" in first and "Row 502<" not in first
    assert "Row 502<" in owner_client.get(url, {"page": 2}).content.decode()


# --- the task ------------------------------------------------------------------------------------


def test_the_task_run_again_changes_nothing(account, owner):
    job = _run(_job(account, owner, _offices(3)))
    before = _state(job)
    _run(job)
    assert _state(job) == before
    assert job.attempts == 1


def test_a_crash_mid_chunk_resumes_at_the_first_unprocessed_row_without_duplicates(
    account, owner, settings, monkeypatch
):
    settings.IMPORT_CHUNK_ROWS = 5
    job = _job(account, owner, _offices(12))  # CSV lines 2..13: chunks 2-6, 7-11, 12-13
    _fail_at(monkeypatch, 9, OperationalError("server closed the connection unexpectedly"))
    with pytest.raises(OperationalError):  # the task's autoretry (same task id) runs it again
        imports.import_job_run(job.pk, claimer="task-1")
    job.refresh_from_db()
    assert (job.state, job.processed_rows, job.created) == (JobState.RUNNING, 5, 5)
    assert Office.objects.count() == 5  # rows 7 and 8 of the broken chunk were undone with it
    assert ImportJobRow.objects.filter(job=job).count() == 5

    imports.import_job_run(job.pk, claimer="task-1")  # its own claim: taken back at once
    job.refresh_from_db()
    assert job.state == JobState.DONE and job.attempts == 2
    # Rows 7 and 8 are created, not skipped as "already registered": nothing ran twice.
    assert (job.processed_rows, job.created, job.skipped, job.rejected) == (12, 12, 0, 0)
    assert Office.objects.count() == CustomerKey.objects.count() == 12
    numbers = list(ImportJobRow.objects.filter(job=job).values_list("number", flat=True))
    assert numbers == list(range(2, 14))
    assert AuditEvent.objects.filter(action="import.finish").count() == 1


def test_a_job_whose_worker_died_is_left_alone_until_stale_then_sent_again_and_resumed(
    account, owner, settings
):
    settings.JOB_STALE_AFTER_S = 60
    job = _job(account, owner, _offices(3))
    ImportJob.objects.filter(pk=job.pk).update(
        state=JobState.RUNNING, claimed_by="dead-worker", heartbeat_at=timezone.now()
    )
    imports.import_job_run(job.pk, claimer="other")  # a live worker might still hold it
    assert _state(job)[0] == 0
    with mock.patch.object(imports.app, "send_task") as send:
        assert imports.import_jobs_resend_stale() == 0
        old = timezone.now() - timedelta(seconds=61)
        ImportJob.objects.filter(pk=job.pk).update(heartbeat_at=old)
        assert tasks.imports_resume_task() == 1  # what the beat runs every minute
    send.assert_called_once_with(imports.IMPORT_TASK, args=[job.pk])
    job = _run(job)
    assert (job.state, job.created, job.attempts) == (JobState.DONE, 3, 1)


def test_a_queued_job_whose_message_was_lost_is_sent_again(account, owner, settings):
    job = _job(account, owner, _offices(1))
    with mock.patch.object(imports.app, "send_task") as send:
        assert imports.import_jobs_resend_stale() == 0
        old = timezone.now() - timedelta(seconds=settings.JOB_STALE_AFTER_S + 1)
        ImportJob.objects.filter(pk=job.pk).update(queued_at=old)
        assert imports.import_jobs_resend_stale() == 1
    send.assert_called_once_with(imports.IMPORT_TASK, args=[job.pk])


def test_a_chunk_finished_after_another_worker_took_the_job_over_is_undone(
    account, owner, settings, monkeypatch
):
    settings.IMPORT_CHUNK_ROWS = 5
    job = _job(account, owner, _offices(8))
    real = imports._import_chunk

    def slow_worker_loses_its_claim(job, records, claimer):
        # Its claim went stale and another worker took the job before this chunk committed.
        ImportJob.objects.filter(pk=job.pk).update(claimed_by="usurper")
        real(job, records, claimer)

    monkeypatch.setattr(imports, "_import_chunk", slow_worker_loses_its_claim)
    imports.import_job_run(job.pk, claimer="slow")
    job.refresh_from_db()
    assert (job.state, job.claimed_by, job.processed_rows) == (JobState.RUNNING, "usurper", 0)
    assert not Office.objects.exists() and not ImportJobRow.objects.exists()


def test_an_unexpected_error_fails_the_job_saying_where_it_stopped(
    account, owner, settings, monkeypatch
):
    settings.IMPORT_CHUNK_ROWS = 5
    job = _job(account, owner, _offices(8))
    _fail_at(monkeypatch, 8, RuntimeError("a bug"), times=2)
    job = _run(job)
    assert job.state == JobState.FAILED
    assert job.error == "Stopped after 5 rows by an unexpected error (logged)."
    assert (job.processed_rows, Office.objects.count(), job.payload_encrypted) == (5, 5, "")
    finish = AuditEvent.objects.get(action="import.finish")
    assert (finish.detail["state"], finish.detail["processed"]) == ("failed", 5)
    with pytest.raises(ValidationError, match="Stopped after 5 rows"):  # the command says so too
        imports.offices_import(account=account, actor=owner, source=_offices(8))


def test_a_job_that_keeps_crashing_gives_up(account, owner, settings):
    settings.JOB_MAX_ATTEMPTS = 2
    job = _job(account, owner, _offices(1))
    ImportJob.objects.filter(pk=job.pk).update(attempts=2)
    job = _run(job)
    assert (job.state, job.error) == (JobState.FAILED, "Gave up after 0 rows and 2 attempts.")
    assert not Office.objects.exists()


def test_a_broker_outage_fails_the_job_saying_workers_are_unavailable(
    owner_client, account, django_capture_on_commit_callbacks
):
    down = mock.patch.object(imports, "broker_producer", side_effect=OSError("refused"))
    with down, django_capture_on_commit_callbacks(execute=True):
        response = _post(owner_client, account, _offices(1))
    job = ImportJob.objects.get()
    assert (job.state, job.error, job.payload_encrypted) == (
        JobState.FAILED, imports.WORKERS_DOWN, ""
    )  # fmt: skip
    assert "Workers unavailable" in owner_client.get(response.url).content.decode()
    assert AuditEvent.objects.get(action="import.finish").detail["state"] == "failed"
