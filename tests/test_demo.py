"""The Quick start's demo, end to end: sandbox, worker, beat, polls, aging, on embedded defaults."""

import os
import subprocess
import sys
from pathlib import Path

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
