"""Killing a running benchmark stops the sandbox and worker it started (they run in their own
sessions, so nothing else would)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from tests.integrations.worker import ROOT
from tests.processes import alive, children


def test_sigterm_to_bench_fleet_stops_its_sandbox_and_worker(tmp_path):
    # Embedded defaults in a var/ of its own, as the demo test does: no test database needed.
    dropped = {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "CELERY_TASK_DEFAULT_QUEUE",
               "DJANGO_ALLOW_ASYNC_UNSAFE"}  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env["ODPORTAL_VAR_DIR"] = str(tmp_path / "var")
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=120)  # noqa: S603
    log_path = tmp_path / "bench.log"
    # Long enough to be mid-refresh when the signal comes: 30 pages at the real 1 s interval.
    argv = [*manage, "bench", "fleet", "--offices", "1", "--guarantors", "3000"]
    with log_path.open("w") as log:
        bench = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
    helpers: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        while "refresh: 1 aging runs queued" not in log_path.read_text():
            assert bench.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)
        helpers = children(bench.pid)
        assert len(helpers) >= 2  # the sandbox and the Celery worker
        bench.send_signal(signal.SIGTERM)
        assert bench.wait(timeout=60) != 0
        deadline = time.monotonic() + 30
        while any(alive(p) for p in helpers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(alive(p) for p in helpers), log_path.read_text()[-3000:]
    finally:
        if bench.poll() is None:
            bench.kill()
        for pid in helpers:  # never leave strays for the rest of the suite
            if alive(pid):
                os.killpg(pid, signal.SIGKILL)
