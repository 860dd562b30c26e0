"""The Quick start's demo, end to end: sandbox, worker, beat, polls, aging, on embedded defaults."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.processes import alive, children

ROOT = Path(__file__).resolve().parent.parent


def test_demo_shows_an_office_ok_with_current_aging_and_every_kind_of_status(tmp_path):
    # Its own var/ (SQLite, filesystem broker, sandbox files): exactly the embedded defaults.
    dropped = {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "CELERY_TASK_DEFAULT_QUEUE",
               "DJANGO_ALLOW_ASYNC_UNSAFE"}  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env["ODPORTAL_VAR_DIR"] = str(tmp_path / "var")
    argv = [sys.executable, "manage.py", "demo", "--check", "--sandbox-port", "0"]
    for _ in range(2):  # idempotent: the second run reuses what the first made
        result = subprocess.run(  # noqa: S603 - fixed argv
            argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "demo check: OK" in out
    assert "Bright Smiles Dental: OK · aging 800 guarantors" in out
    assert "Riverside Dental Care: eConnector down" in out
    assert "Summit Orthodontics: Key disabled" in out
    assert "Sandbox offices: 5 rows: 0 created, 5 skipped" in out


def test_terminating_the_demo_stops_its_worker_and_beat(tmp_path):
    """kill (SIGTERM) must not leave a stray worker behind on the embedded broker."""
    dropped = {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "CELERY_TASK_DEFAULT_QUEUE",
               "DJANGO_ALLOW_ASYNC_UNSAFE"}  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env["ODPORTAL_VAR_DIR"] = str(tmp_path / "var")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    argv = [
        sys.executable,
        "manage.py",
        "demo",
        "--sandbox-port",
        "0",
        "--addr",
        f"127.0.0.1:{port}",
    ]
    log = (tmp_path / "demo.log").open("w+")
    demo = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
    helpers: set[int] = set()
    try:
        deadline = time.monotonic() + 180
        while "odportal demo:" not in (tmp_path / "demo.log").read_text():
            assert demo.poll() is None and time.monotonic() < deadline, (
                tmp_path / "demo.log"
            ).read_text()[-3000:]
            time.sleep(0.5)
        helpers = children(demo.pid)
        assert len(helpers) >= 2  # the Celery worker and beat
        demo.send_signal(signal.SIGTERM)
        demo.wait(timeout=60)
        deadline = time.monotonic() + 30
        while any(alive(p) for p in helpers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(alive(p) for p in helpers), (tmp_path / "demo.log").read_text()[-3000:]
    finally:
        if demo.poll() is None:
            demo.kill()
        for pid in helpers:  # never leave strays for the rest of the suite
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        log.close()
