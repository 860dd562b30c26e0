"""Bulk actions end to end: the office list's form, a real Celery worker process, the real
broker and database; the job page polled as htmx does until it answers 286."""

from __future__ import annotations

import time

import pytest
from django.urls import reverse

from integrations.accounts.models import AuditEvent
from integrations.offices.models import BulkJob, JobState, Office
from tests.factories import bulk_offices
from tests.helpers import Worker

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(celery_broker, tmp_path):
    from odportal.celery import app

    app.control.purge()
    w = Worker(celery_broker, tmp_path / "worker.log")
    yield w
    w.stop()


@pytest.mark.timeout(300)
def test_pausing_all_matching_offices_is_done_by_a_worker_with_its_progress_shown(
    client, account, owner, worker
):
    bulk_offices(account, 400)
    worker.start(concurrency=1)
    client.force_login(owner)
    response = client.post(
        reverse("office_bulk"), {"action": "pause", "scope": "all", "q": "Bulk office 001"}
    )
    job = BulkJob.objects.get()
    assert response.status_code == 302 and response.url == reverse("bulk_job", args=[job.public_id])
    assert job.total == 100  # Bulk office 00100 .. 00199
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        polled = client.get(response.url, headers={"HX-Request": "true"})
        if polled.status_code == 286:
            break
        time.sleep(0.2)
    else:
        job.refresh_from_db()
        raise AssertionError(f"job not finished: {job}\n{worker.log_path.read_text()[-3000:]}")
    job.refresh_from_db()
    assert (job.state, job.processed, job.done) == (JobState.DONE, 100, 100)
    paused = Office.objects.filter(polling_enabled=False)
    assert paused.count() == 100 and all(o.name.startswith("Bulk office 001") for o in paused)
    assert list(AuditEvent.objects.values_list("action", flat=True)) == ["bulk.pause"]
