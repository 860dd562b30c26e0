"""Process helpers for tests that start a command and check it leaves no helper behind."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

# Settings that would point a subprocess at the suite's own database and broker.
_SUITE_SERVICES = {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "CELERY_TASK_DEFAULT_QUEUE",
                   "DJANGO_ALLOW_ASYNC_UNSAFE"}  # fmt: skip


def embedded_env(var_dir: Path) -> dict[str, str]:
    """This environment on the embedded defaults (SQLite, filesystem broker) in its own var/."""
    env = {k: v for k, v in os.environ.items() if k not in _SUITE_SERVICES}
    env["ODPORTAL_VAR_DIR"] = str(var_dir)
    return env


def children(pid: int) -> set[int]:
    """Direct children of a process (all its threads')."""
    kids: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        kids |= {int(k) for k in task.read_text().split()}
    return kids


def alive(pid: int) -> bool:
    """Running (not gone, not a zombie)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def sigterm_leaves_no_helpers(
    proc: subprocess.Popen, log_path: Path, *, ready: str, ready_timeout_s: float, helpers: int
) -> int:
    """Once ``ready`` shows in the log, SIGTERM a command that started ``helpers`` child
    processes and assert every one of them is gone; returns the command's exit status.

    Whatever happens, nothing is left running for the rest of the suite (helpers in a
    session of their own are killed with their process group).
    """
    started: set[int] = set()
    try:
        deadline = time.monotonic() + ready_timeout_s
        while ready not in log_path.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()[-3000:]
            time.sleep(0.2)
        started = children(proc.pid)
        assert len(started) >= helpers, started
        proc.send_signal(signal.SIGTERM)
        status = proc.wait(timeout=60)
        deadline = time.monotonic() + 30
        while any(alive(p) for p in started) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(alive(p) for p in started), log_path.read_text()[-3000:]
        return status
    finally:
        if proc.poll() is None:
            started |= children(proc.pid)
            proc.kill()
        for pid in started:
            if alive(pid):
                own_group = os.getpgid(pid) == pid
                (os.killpg if own_group else os.kill)(pid, signal.SIGKILL)
