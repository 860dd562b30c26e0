"""Start a real Celery worker process against the test database, broker and sandbox settings."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.db import connection

from integrations.devtools.bench.common import process_group_stop

ROOT = Path(__file__).resolve().parents[2]


def database_url() -> str:
    """The URL of the database the tests are using right now (the test database)."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    host, port = s.get("HOST") or "127.0.0.1", s.get("PORT") or 5432
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{host}:{port}/{s['NAME']}"


class Worker:
    """A `celery worker` subprocess in its own process group (so a kill takes its children)."""

    def __init__(self, broker: tuple[str, dict, str], log_path: Path, **env: str) -> None:
        url, options, self.queue = broker
        self.log_path = log_path
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": url,
            "DJANGO_SETTINGS_MODULE": "odportal.settings",
            "CELERY_TASK_DEFAULT_QUEUE": self.queue,
            **env,
        }
        if options:  # filesystem broker: settings derive its folders from ODPORTAL_VAR_DIR
            self.env["ODPORTAL_VAR_DIR"] = str(Path(options["data_folder_in"]).parents[1])
        self.proc: subprocess.Popen | None = None

    def start(self, concurrency: int = 8, timeout: float = 60) -> Worker:
        log = self.log_path.open("ab")
        name = f"test-{os.getpid()}@%h"
        cmd = [sys.executable, "-m", "celery", "-A", "odportal", "worker", "--pool", "threads",
               "--concurrency", str(concurrency), "--loglevel", "INFO", "--without-gossip",
               "--without-mingle", "--without-heartbeat", "-n", name]  # fmt: skip
        self.proc = subprocess.Popen(  # noqa: S603 - fixed argv
            cmd, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if b" ready." in self.log_path.read_bytes():
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        raise RuntimeError(f"worker not ready:\n{self.log_path.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL the whole worker process group, as an OOM killer or a crash would."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        process_group_stop(self.proc)
