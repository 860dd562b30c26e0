"""``manage.py bench day`` at a tiny size: it runs through a real worker and beat against the
sandbox on Postgres and Redis, and ends with every figure and a verified day.

Figures are not asserted (timings belong in the benchmark's output, not in tests).
"""

from __future__ import annotations

import json
import os
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection

from integrations.accounts.models import DeveloperAccount

DAY_KEYS = {
    "offices", "cpu_core_fraction", "cpu_s_per_office_day", "requests_per_office_interval",
    "db_bytes_per_office_day", "db_disk_bytes_per_office_day", "db_rows_per_office_day",
    "sweep_s", "overview_p95_ms", "office_list_p95_ms",
    "throttle_violations", "verified", "old_runs",
}  # fmt: skip


def _on_postgres_and_redis() -> bool:
    return connection.vendor == "postgresql" and settings.CELERY_BROKER_URL.startswith("redis")


@pytest.fixture
def worker_env(celery_broker, monkeypatch):
    """The worker and beat the benchmark starts use the test database and the test broker."""
    from tests.helpers import database_url

    url, _, queue = celery_broker
    monkeypatch.setenv("DATABASE_URL", database_url())
    monkeypatch.setenv("CELERY_BROKER_URL", url)
    monkeypatch.setenv("CELERY_TASK_DEFAULT_QUEUE", queue)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    not (connection.vendor == "postgresql" and os.environ.get("REDIS_URL")),
    reason="bench day runs only on Postgres and Redis (set DATABASE_URL and REDIS_URL)",
)
def test_day_at_a_tiny_size_prints_every_figure_and_verifies(worker_env, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    out = StringIO()
    call_command("bench", "day", "--offices", "20", "--speed", "100", "--hours", "1",
                 "--guarantors", "40", "--fault-fraction", "0.15", "--workers", "2",
                 stdout=out)  # fmt: skip
    lines = out.getvalue().strip().splitlines()
    figures = json.loads(lines[-1])
    assert set(figures) >= DAY_KEYS
    assert figures["offices"] == 20 and figures["verified"] is True
    assert figures["workers"] == 2  # two processes share the broker, the pacer, the database
    # Each kind of fault was injected (15% of 20 offices: one of each).
    assert figures["faults"] == {"econnector_down": 1, "key_disabled": 1, "econnector_back": 1}
    assert any(line.startswith("verify: 20/20 offices") for line in lines)
    assert not DeveloperAccount.objects.filter(company_name__startswith="odportal bench").exists()


@pytest.mark.django_db
def test_day_refuses_without_postgres_and_redis():
    if _on_postgres_and_redis():
        pytest.skip("Postgres and Redis are both here: the refusal cannot happen")
    want = "needs Postgres" if connection.vendor != "postgresql" else "needs Redis"
    with pytest.raises(CommandError, match=want):
        call_command("bench", "day", "--offices", "20", stdout=StringIO())
