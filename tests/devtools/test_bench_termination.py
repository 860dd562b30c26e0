"""Killing a running benchmark stops the sandbox and worker it started (they run in their own
sessions, so nothing else would)."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers import ROOT, embedded_env, sigterm_leaves_no_helpers


def test_sigterm_to_bench_fleet_stops_its_sandbox_and_worker(tmp_path):
    # Embedded defaults in a var/ of its own, as the demo test does: no test database needed.
    env = embedded_env(tmp_path / "var")
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=120)  # noqa: S603
    log_path = tmp_path / "bench.log"
    # Long enough to be mid-refresh when the signal comes: 30 pages at the real 1 s interval.
    argv = [*manage, "bench", "fleet", "--offices", "1", "--guarantors", "3000"]
    with log_path.open("w") as log:
        bench = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
    status = sigterm_leaves_no_helpers(
        bench, log_path, ready="refresh: 1 aging runs queued", ready_timeout_s=120, helpers=2
    )  # the sandbox and the Celery worker
    assert status != 0
