"""Shared benchmark plumbing: the sandbox and worker subprocesses, CPU accounting, output."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import zoneinfo
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings

Say = Callable[[str], Any]
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def figures_line(figures: dict[str, Any]) -> str:
    """The last line of every benchmark: its figures as one JSON object."""
    return json.dumps(figures, sort_keys=False, default=str)


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank percentile (``q`` from 0 to 1) of the timings of a benchmark."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def local_time_zone() -> str:
    """This machine's IANA time zone (the sandbox dates everything on the local clock)."""
    name = os.environ.get("TZ", "").lstrip(":")
    if not name:
        try:
            name = os.readlink("/etc/localtime").split("zoneinfo/", 1)[-1]
        except OSError:
            name = ""
    return name if name in zoneinfo.available_timezones() else "UTC"


# --- CPU of a process tree (psutil is not a dependency) -------------------------------------


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            kids += [int(k) for k in task.read_text().split()]
        except OSError:
            continue
    return kids


def _own_cpu_s(pid: int) -> float:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    # utime, stime, cutime, cstime (fields 14-17): threads are included; reaped children too.
    return sum(int(f) for f in fields[11:15]) / _CLOCK_TICKS


def tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process, its threads and its descendants."""
    total, stack = 0.0, [pid]
    while stack:
        current = stack.pop()
        total += _own_cpu_s(current)
        stack += _children(current)
    return total


# --- subprocesses -----------------------------------------------------------------------------


class Child:
    """A subprocess in its own session, stopped (group-wide) on exit, logging to a file."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name, self.cmd, self.env, self.log_path = name, cmd, env, log_path
        self.proc: subprocess.Popen | None = None

    def start(self, *, priority: int = 0) -> Child:
        """Start; ``priority`` < 0 asks for a higher scheduling priority (ignored if refused)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(  # noqa: S603 - argv built here, no shell
            self.cmd, cwd=settings.BASE_DIR, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        if priority:
            with contextlib.suppress(OSError):  # raising priority needs root or CAP_SYS_NICE
                os.setpriority(os.PRIO_PROCESS, self.proc.pid, priority)
        return self

    def wait_for_log(self, marker: bytes, timeout: float) -> None:
        """Block until ``marker`` appears in the log (or fail with the log's tail)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if marker in self.log_path.read_bytes():
                return
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited early:\n{self.tail()}")
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f}s:\n{self.tail()}")

    def tail(self, size: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-size:]

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self) -> None:
        process_group_stop(self.proc)


def process_group_stop(proc: subprocess.Popen | None, *, timeout_s: float = 20) -> None:
    """SIGTERM the process group of a child started with ``start_new_session=True`` (its own
    children too, e.g. a worker's pool), then SIGKILL if it lingers."""
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):  # it may exit between poll() and here
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def sandbox_process(
    *, offices: int, guarantors: int, throttle_scale: float, latency_ms: int, work_dir: Path
) -> Child:
    """``python -m odsandbox`` with the control API, its manifest written under work_dir."""
    cmd = [sys.executable, "-m", "odsandbox", "--port", "0", "--control",
           "--offices", str(offices), "--guarantors-per-office", str(guarantors),
           "--throttle-scale", repr(throttle_scale), "--latency-ms", str(latency_ms),
           "--report-latency-ms", "0", "--data-dir", str(work_dir / "sandbox-data"),
           "--manifest", str(work_dir / "manifest.json")]  # fmt: skip
    return Child("sandbox", cmd, {**os.environ}, work_dir / "sandbox.log")


def read_manifest(child: Child, work_dir: Path, timeout: float = 60) -> dict[str, Any]:
    """Wait for the sandbox to print its base URL, then load the manifest it wrote."""
    child.wait_for_log(b"/api/v1", timeout)
    return json.loads((work_dir / "manifest.json").read_text())


def worker_process(*, concurrency: int, env: dict[str, str], work_dir: Path, name: str) -> Child:
    """A Celery worker as production runs it (threads pool), with benchmark settings in env."""
    cmd = [sys.executable, "-m", "celery", "-A", "odportal", "worker", "--pool", "threads",
           "--concurrency", str(concurrency), "--loglevel", "INFO", "--without-gossip",
           "--without-mingle", "--without-heartbeat", "-n", f"{name}@%h"]  # fmt: skip
    return Child(name, cmd, {**os.environ, **env}, work_dir / f"{name}.log")


def beat_process(*, env: dict[str, str], work_dir: Path) -> Child:
    """Celery beat, the production schedule (with what env changes), its state under work_dir."""
    cmd = [sys.executable, "-m", "celery", "-A", "odportal", "beat", "--loglevel", "INFO",
           "--schedule", str(work_dir / "celerybeat-schedule")]  # fmt: skip
    return Child("beat", cmd, {**os.environ, **env}, work_dir / "beat.log")


def run_to_end(run_id: int, *, claimer: str) -> None:
    """Execute a run as the task would, sleeping instead of re-queueing when it must wait."""
    from integrations.offices.services.polling import execute  # needs Django set up

    while (resume_in := execute.run_execute(run_id, claimer=claimer)) is not None:
        time.sleep(resume_in)
