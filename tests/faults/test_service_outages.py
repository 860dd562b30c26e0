"""Service faults: Redis and PostgreSQL stopped and restarted under a running worker and beat.

The servers are private (started by these tests on free ports), never the machine's shared
ones. pytest-django's test database lives on the shared server, so the product runs here only in
subprocesses (migrate, seed, pages, worker, beat) and results are read back with psycopg.
Nothing else uses these servers, so the module may run anywhere in the suite.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal

import psycopg
import pytest
import redis

from tests.helpers import (
    ROOT,
    THROTTLE_SCALE,
    Beat,
    PostgresCluster,
    RedisServer,
    Worker,
    missing_binaries,
)

pytestmark = pytest.mark.faults

TEMPLATE_DB = "odportal_tpl"
EXPECTED_STATUS = {
    "Queries Office": "ok",
    "ReadAll Office": "permission_missing",  # the account requested Queries
    "Down Office": "econnector_down",
    "Disabled Office": "key_disabled",
    "Spare Office": "ok",
}
AGING_OFFICES = {
    name for name, status in EXPECTED_STATUS.items() if status in ("ok", "permission_missing")
}


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """A private PostgreSQL cluster (with a migrated template database) and a private Redis."""
    if reason := missing_binaries():
        pytest.skip(reason)
    tmp = tmp_path_factory.mktemp("services")
    pg = PostgresCluster().init()
    pg.start()
    rds = RedisServer(tmp / "redis.log").start()
    try:
        with psycopg.connect(pg.url("postgres"), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {TEMPLATE_DB}")
        env = {**os.environ, "DATABASE_URL": pg.url(TEMPLATE_DB), "ODPORTAL_VAR_DIR": str(tmp)}
        subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env,
                       check=True, timeout=180)  # fmt: skip
        yield pg, rds
    finally:
        rds.stop()
        pg.stop()
        pg.remove()


class Stack:
    """One test's database (copied from the template), env, worker and beat."""

    counter = 0

    def __init__(self, servers, tmp_path, sandbox, **env: str) -> None:
        self.pg, self.redis = servers
        Stack.counter += 1
        self.db = f"odportal_faults_{Stack.counter}"
        with psycopg.connect(self.pg.url("postgres"), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {self.db} TEMPLATE {TEMPLATE_DB}")
        redis.Redis.from_url(self.redis.url).flushall()
        self.url = self.pg.url(self.db)
        self.tmp = tmp_path
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "odportal.settings",
            "DATABASE_URL": self.url,
            "REDIS_URL": self.redis.url,
            "CELERY_BROKER_URL": self.redis.url,
            "CELERY_TASK_DEFAULT_QUEUE": "faults",
            "ODPORTAL_VAR_DIR": str(tmp_path),
            "OPENDENTAL_THROTTLE_SCALE": str(THROTTLE_SCALE),
            "OPENDENTAL_REMOTE_BASE_URL": sandbox.base_url,
            "ODPORTAL_SWEEP_INTERVAL_S": "2",
            **env,
        }
        self.offices = self.product("seed", json.dumps(sandbox.manifest))
        self.worker = Worker((self.redis.url, {}, "faults"), tmp_path / "worker.log", **self.env)
        self.beat = Beat(self.env, tmp_path)

    def product(self, command: str, arg: str):
        done = subprocess.run(
            [sys.executable, "-m", "tests.faults.product", command, arg], cwd=ROOT, env=self.env,
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
        return json.loads(line.removeprefix("RESULT "))

    def query(self, sql: str, *params) -> list[tuple]:
        with psycopg.connect(self.url, autocommit=True, connect_timeout=3) as conn:
            cursor = conn.execute(sql, params)
            return cursor.fetchall() if cursor.description else []

    def runs(self) -> list[dict]:
        rows = self.query(
            "SELECT o.name, r.kind, r.outcome, r.queued_at, r.requested_by_id, r.rows, r.attempts,"
            " r.error, r.started_at, r.finished_at FROM offices_pollrun r"
            " JOIN offices_office o ON o.id = r.office_id"
            " ORDER BY r.id"
        )
        keys = ("office", "kind", "outcome", "queued_at", "requested_by", "rows", "attempts",
                "error", "started_at", "finished_at")  # fmt: skip
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def wait(self, predicate, what: str, timeout: float = 60) -> None:
        """Poll ``predicate`` (which may hit a database that is down) until it holds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if predicate():
                    return
            except psycopg.OperationalError:
                pass
            time.sleep(0.1)
        logs = {p.name: p.read_text()[-2500:] for p in self.tmp.glob("*.log")}
        raise AssertionError(f"timed out waiting for {what}; runs={self.runs()}\n{logs}")

    def finished(self, kind: str, offices) -> bool:
        done = {r["office"] for r in self.runs() if r["kind"] == kind and r["outcome"] == "ok"}
        done |= {r["office"] for r in self.runs() if r["kind"] == kind and r["outcome"] == "failed"}
        return set(offices) <= done and not self.active()

    def active(self) -> list[dict]:
        return [r for r in self.runs() if r["outcome"] in ("queued", "running")]

    def stop(self) -> None:
        self.beat.stop()
        self.worker.stop()


@pytest.fixture
def make_stack(servers, tmp_path, sandbox):
    made = []

    def make(**env: str) -> Stack:
        made.append(Stack(servers, tmp_path, sandbox, **env))
        return made[-1]

    yield make
    for stack in made:
        stack.stop()


def assert_every_office_polled_once_and_consistent(stack: Stack, totals) -> None:
    """Right status everywhere, one sweep-made run per office and kind, whole snapshots."""
    assert not stack.active()
    statuses = dict(stack.query("SELECT name, status FROM offices_office"))
    assert statuses == EXPECTED_STATUS
    swept = Counter((r["office"], r["kind"]) for r in stack.runs() if r["requested_by"] is None)
    expected = {(name, "health") for name in EXPECTED_STATUS} | {
        (name, "aging") for name in AGING_OFFICES
    }
    assert set(swept) == expected and set(swept.values()) == {1}, swept
    aging_ok = {r["office"] for r in stack.runs() if r["kind"] == "aging" and r["outcome"] == "ok"}
    assert aging_ok == AGING_OFFICES
    current = stack.query(
        "SELECT o.name, s.state, s.guarantor_count, s.bal_total,"
        " (SELECT count(*) FROM offices_agingrow a WHERE a.snapshot_id = s.id),"
        " (SELECT sum(a.bal_total) FROM offices_agingrow a WHERE a.snapshot_id = s.id),"
        " o.aging_total FROM offices_office o"
        " JOIN offices_agingsnapshot s ON s.id = o.current_snapshot_id"
    )
    assert {row[0] for row in current} == AGING_OFFICES
    for name, state, count, total, rows, row_sum, office_total in current:
        expected_totals = totals[name]["all"]
        assert state == "complete" and count == rows == expected_totals["guarantors"], name
        assert total == row_sum == office_total == Decimal(str(expected_totals["BalTotal"])), name
    dupes = stack.query(
        "SELECT snapshot_id, pat_num FROM offices_agingrow"
        " GROUP BY snapshot_id, pat_num HAVING count(*) > 1"
    )
    assert dupes == []


@pytest.fixture
def totals(sandbox, sandbox_totals):
    return {o["name"]: sandbox_totals(o["customer_key"]) for o in sandbox.manifest["offices"]}


def test_redis_down_pages_serve_poll_now_says_workers_unavailable_and_beat_recovers(
    make_stack,
):
    stack = make_stack()
    stack.worker.start()
    stack.beat.start()
    started = time.monotonic()
    stack.wait(lambda: stack.finished("aging", AGING_OFFICES), "the first sweeps", timeout=60)
    print(f"first sweeps: {time.monotonic() - started:.1f}s")
    queries_id = stack.offices["Queries Office"]

    stack.redis.stop()
    time.sleep(3)  # beat ticks while the broker is gone
    started = time.monotonic()
    seen = stack.product("pages", str(queries_id))
    print(f"pages with Redis down: {time.monotonic() - started:.1f}s")
    assert {k: seen[k] for k in ("overview", "office_list", "office_detail", "office_aging")} == {
        "overview": 200, "office_list": 200, "office_detail": 200, "office_aging": 200
    }  # fmt: skip
    assert seen["poll_partial"][0] == 200 and "Workers unavailable" in seen["poll_partial"][1]
    assert seen["poll_page"][0] == 200 and "Workers unavailable" in seen["poll_page"][1]
    assert seen["enqueue"].startswith("WorkersUnavailable")
    failed = [r for r in stack.runs() if r["requested_by"] and r["outcome"] == "failed"]
    assert failed and all(r["error"].startswith("Workers unavailable") for r in failed)

    # While Redis is down the office becomes due; it must be polled once Redis is back.
    stack.query("UPDATE offices_office SET next_health_at = NULL WHERE id = %s", queries_id)
    back_at = datetime.now(UTC)
    stack.redis.start()

    def polled_after_outage() -> bool:
        return any(
            r["office"] == "Queries Office" and r["kind"] == "health" and r["outcome"] == "ok"
            and r["requested_by"] is None and r["queued_at"] > back_at
            for r in stack.runs()
        )  # fmt: skip

    stack.wait(polled_after_outage, "a sweep after Redis came back", timeout=60)
    print(f"recovered {(datetime.now(UTC) - back_at).total_seconds():.1f}s after Redis returned")
    assert stack.worker.proc.poll() is None and stack.beat.proc.poll() is None  # no restarts
    assert stack.beat.starts == 1


def test_postgres_restarted_mid_sweep_every_office_ends_polled_without_duplicates(
    make_stack, sandbox_control, sandbox, totals
):
    stack = make_stack()
    for office in sandbox.manifest["offices"]:  # slow pages: the restart lands mid-refresh
        sandbox_control(office["customer_key"], latency_ms=400)
    stack.worker.start()
    stack.beat.start()

    def refreshing() -> bool:
        return any(r["kind"] == "aging" and r["outcome"] == "running" for r in stack.runs())

    stack.wait(refreshing, "an aging refresh under way", timeout=60)
    stack.pg.restart()
    stack.wait(lambda: stack.finished("aging", AGING_OFFICES), "every refresh", timeout=90)
    assert stack.worker.proc.poll() is None and stack.beat.proc.poll() is None
    log = stack.worker.log_path.read_text()
    # Whether a task was mid-query when the server went down depends on timing (rows are
    # written per batch), so the restart is not required to show in the log; any database
    # error that did reach a task must have become a retry.
    assert "raised unexpected" not in log  # every database error became a retry
    assert_every_office_polled_once_and_consistent(stack, totals)


def test_worker_killed_mid_refresh_and_beat_restarted_twice_lose_and_duplicate_nothing(
    make_stack, sandbox_control, sandbox, totals
):
    # Stale after 5 s: longer than any gap between heartbeats here (a 2 s health poll).
    stack = make_stack(ODPORTAL_CLAIM_STALE_AFTER_S="5")
    queries = next(o for o in sandbox.manifest["offices"] if o["name"] == "Queries Office")
    sandbox_control(queries["customer_key"], latency_ms=400)  # a page every ~0.4 s
    stack.worker.start()
    stack.beat.start()

    def queries_mid_refresh() -> bool:
        return any(r["office"] == "Queries Office" and r["kind"] == "aging"
                   and r["outcome"] == "running"
                   for r in stack.runs())  # fmt: skip

    stack.wait(queries_mid_refresh, "Queries Office mid-refresh", timeout=60)
    stack.worker.kill()
    for _ in range(2):
        stack.beat.stop()
        stack.beat.start()
    sandbox_control(queries["customer_key"], latency_ms=0)
    stack.worker.start()
    stack.wait(lambda: stack.finished("aging", AGING_OFFICES), "every refresh", timeout=90)
    assert_every_office_polled_once_and_consistent(stack, totals)
    killed = next(
        r for r in stack.runs() if r["office"] == "Queries Office" and r["kind"] == "aging"
    )
    assert killed["outcome"] == "ok" and killed["attempts"] >= 2  # resumed, not replaced


def test_redis_stopped_with_refreshes_in_flight_the_worker_stays_up_and_they_finish(
    make_stack, sandbox_control, sandbox, totals
):
    stack = make_stack(ODPORTAL_CLAIM_STALE_AFTER_S="20")
    for office in sandbox.manifest["offices"]:  # slow pages: the outage lands mid-refresh
        sandbox_control(office["customer_key"], latency_ms=300)
    stack.worker.start()
    stack.beat.start()

    def refreshing() -> bool:
        return any(r["kind"] == "aging" and r["outcome"] == "running" for r in stack.runs())

    stack.wait(refreshing, "an aging refresh under way", timeout=60)
    stack.redis.stop()
    time.sleep(8)  # the worker's tasks go on and finish while the broker is gone
    stack.redis.start()
    for office in sandbox.manifest["offices"]:
        sandbox_control(office["customer_key"], latency_ms=0)
    stack.wait(lambda: stack.finished("aging", AGING_OFFICES), "every refresh", timeout=120)
    assert stack.worker.proc.poll() is None, stack.worker.log_path.read_text()[-3000:]
    assert "Unrecoverable error" not in stack.worker.log_path.read_text()
    assert_every_office_polled_once_and_consistent(stack, totals)
