"""``manage.py bench``: each benchmark runs at a tiny size and ends with its JSON figures.

No timing assertions (timings belong in the benchmark output, not in tests); only the shape of
the figures and that the fleet's snapshots matched the sandbox.
"""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command

from integrations.accounts.models import DeveloperAccount

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

FLEET_KEYS = {
    "offices", "requests", "rows", "wall_s", "ideal_s", "efficiency", "worker_cpu_s",
    "cpu_ms_per_request", "throttle_violations",
}  # fmt: skip


def run_bench(*args: str) -> tuple[list[str], dict]:
    out = StringIO()
    call_command("bench", *args, stdout=out)
    lines = out.getvalue().strip().splitlines()
    return lines, json.loads(lines[-1])


@pytest.fixture
def worker_env(celery_broker, monkeypatch, tmp_path):
    """The worker the benchmark starts uses the test database and the test broker."""
    from tests.helpers import database_url

    url, options, queue = celery_broker
    monkeypatch.setenv("DATABASE_URL", database_url())
    monkeypatch.setenv("CELERY_BROKER_URL", url)
    monkeypatch.setenv("CELERY_TASK_DEFAULT_QUEUE", queue)
    if options:  # filesystem broker: the worker derives its folders from ODPORTAL_VAR_DIR
        from pathlib import Path

        monkeypatch.setenv("ODPORTAL_VAR_DIR", str(Path(options["data_folder_in"]).parents[1]))


def test_fleet_refreshes_every_office_and_matches_the_sandbox(worker_env, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    lines, figures = run_bench("fleet", "--offices", "2", "--guarantors", "150",
                               "--interval-s", "0.02")  # fmt: skip
    assert set(figures) >= FLEET_KEYS
    assert figures["verified"] is True
    assert figures["offices"] == 2 and figures["rows"] == 300
    assert figures["requests"] >= 6
    assert any(line.startswith("verify: 2/2") for line in lines)
    assert not DeveloperAccount.objects.filter(company_name__startswith="odportal bench").exists()


def test_fleet_with_two_worker_processes_shares_the_offices(worker_env, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    lines, figures = run_bench("fleet", "--offices", "4", "--guarantors", "150",
                               "--interval-s", "0.02", "--workers", "2")  # fmt: skip
    assert figures["verified"] is True and figures["workers"] == 2
    assert figures["offices"] == 4 and figures["rows"] == 600
    # Two processes started, each with its share of threads (4 offices / 2 = 2, at least 4).
    started = [line for line in lines if line.startswith("worker: threads pool")]
    assert len(started) == 2 and all("concurrency 4" in line for line in started)
    assert figures["worker_cpu_s"] > 0


def test_sandbox_build_reports_its_time_and_row_counts():
    lines, figures = run_bench("sandbox-build", "--patients", "600", "--clinics", "2")
    assert lines[0].startswith("round 1:")
    assert {"patients", "wall_s", "cpu_s", "rows", "file_mb"} <= set(figures)
    assert 400 < figures["patients"] < 800 and figures["wall_s"] > 0
    assert figures["rows"]["appointment"] > figures["patients"]
    assert figures["rows"]["procedurelog"] > figures["rows"]["appointment"]


def test_ingest_reports_its_rate_and_the_copy_baseline(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    _, figures = run_bench("ingest", "--rows", "500")
    assert {"rows", "rows_per_s", "copy_rows_per_s", "ratio"} <= set(figures)
    assert figures["rows"] == 500 and figures["rows_per_s"] > 0
    from django.db import connection

    if connection.vendor == "postgresql":
        assert figures["copy_rows_per_s"] > 0 and figures["ratio"] > 0
    else:
        assert figures["copy_rows_per_s"] is None and "note" in figures


def test_refresh_breaks_the_worker_cpu_down_by_phase(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    lines, figures = run_bench("refresh", "--offices", "3", "--guarantors", "150",
                               "--interval-s", "0.002")  # fmt: skip
    assert figures["verified"] is True
    assert figures["offices"] == 3 and figures["refreshes"] == 2  # the first one warms up
    assert figures["rows"] == 450
    # DateLastAging, then pages of 100 until a short one: 1 + 2 per office of 150.
    assert figures["requests"] == 6 and figures["requests_per_refresh"] == 3
    phases = figures["phases_ms_per_refresh"]
    assert set(phases) == {"pace", "send", "decode", "rows", "claim", "snapshot_open",
                           "row_count", "ingest", "complete", "finish", "other"}  # fmt: skip
    # Every timed phase ran (its function was wrapped and called), and the phases add up.
    assert all(phases[p] > 0 for p in ("send", "claim", "ingest", "complete"))
    assert sum(phases.values()) == pytest.approx(figures["cpu_ms_per_refresh"], abs=0.05)
    assert any(line.startswith("verify: 3/3") for line in lines)
    assert sum(line.startswith("cpu:   ") for line in lines) == len(phases)  # the table
    assert not DeveloperAccount.objects.filter(company_name__startswith="odportal bench").exists()
    # The wrapped functions are restored afterwards.
    import httpx

    from integrations.offices.services.aging import snapshots
    from integrations.offices.services.polling import runs

    assert not hasattr(httpx.Client.send, "__wrapped__")
    assert not hasattr(runs.run_claim, "__wrapped__")
    assert not hasattr(snapshots.snapshot_rows_ingest, "__wrapped__")


def test_health_compares_four_designs_of_a_health_poll(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    _, figures = run_bench("health", "--offices", "3", "--batch-size", "2")
    assert figures["verified"] is True and figures["offices"] == 3
    for design, requests in (("single_full", 5), ("single_liveness", 1), ("batch_full", 5),
                             ("batch_liveness", 1)):  # fmt: skip
        assert figures[design]["requests_per_poll"] == requests
        assert figures[design]["cpu_ms_per_poll"] > 0


def test_notify_tells_each_faulted_office_once_through_a_real_worker_and_beat(
    worker_env, settings, tmp_path
):
    settings.VAR_DIR = tmp_path
    lines, figures = run_bench("notify", "--offices", "12", "--faults", "2",
                               "--interval-s", "6", "--sweep-s", "2")  # fmt: skip
    assert figures["verified"] is True, lines[-15:]
    assert figures["notified"] == 2 and figures["offices"] == 12
    assert figures["fault_to_notification_max_s"] is not None
    assert {"fault_to_notification_p50_s", "target_s", "met"} <= set(figures)
    assert not DeveloperAccount.objects.filter(company_name="odportal bench fleet").exists()
