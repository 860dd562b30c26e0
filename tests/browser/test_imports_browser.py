"""The import page in headless Chromium: upload, a live progress bar, the results, polling stops.

The test plays the worker (the job run as a function between page checks), so the browser sees
the job queued, stopped part way by a crash, resumed and finished.
"""

from __future__ import annotations

from unittest import mock

import pytest
from django.db import OperationalError
from playwright.sync_api import expect

from integrations.offices.models import ImportJob
from integrations.offices.services import imports
from tests.factories import random_key

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_upload_shows_its_progress_then_its_results_and_stops_polling(
    page, live_server, login, screenshot, owner, account, tmp_path, settings, monkeypatch
):
    settings.IMPORT_CHUNK_ROWS = 10
    rows = [f"Clinic {n:02},{random_key()},remote,,UTC" for n in range(29)] + ["Bad,short,,,"]
    upload = tmp_path / "clinics.csv"
    upload.write_text("name,customer_key,api_mode,base_url,time_zone\n" + "\n".join(rows))
    login("owner")
    page.goto(f"{live_server.url}/developer-accounts/{account.public_id}/import/")
    with mock.patch.object(imports.app, "send_task"):  # no worker: this test runs the job
        page.set_input_files("#id_file", str(upload))
        page.get_by_role("button", name="Import").click()
        page.wait_for_url("**/imports/**")
    job = ImportJob.objects.get()
    panel = page.locator("#import-job")
    expect(panel).to_contain_text("Queued")

    real = imports._import_one

    def crash_at_row_15(**kwargs):
        if kwargs["number"] == 15:
            raise OperationalError("the database went away")
        return real(**kwargs)

    monkeypatch.setattr(imports, "_import_one", crash_at_row_15)
    with pytest.raises(OperationalError):
        imports.import_job_run(job.pk, claimer="task-1")
    expect(panel).to_contain_text("10 of 30 rows (33%)")  # polled in, no reload
    expect(page.locator("#import-progress")).to_have_attribute("value", "33")
    screenshot("import-running")

    monkeypatch.setattr(imports, "_import_one", real)
    imports.import_job_run(job.pk, claimer="task-1")  # its retry resumes at the 11th row
    expect(panel).to_contain_text("30 rows: 29 created, 0 skipped, 1 rejected")
    expect(page.get_by_role("row", name="31 Bad")).to_contain_text("Rejected")
    screenshot("import-done")

    polls: list[str] = []
    page.on("request", lambda request: polls.append(request.url))
    page.wait_for_timeout(2500)
    assert polls == []  # 286: htmx stopped polling
