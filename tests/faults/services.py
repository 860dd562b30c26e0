"""Private Redis and PostgreSQL servers a test starts itself, so it may stop and restart them.

Never the machine's shared servers: each runs on a free loopback port with its data in a temp
folder, and is stopped when the test module ends.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from integrations.devtools.bench.common import process_group_stop
from tests.polling.worker import ROOT

PG_BIN_ROOT = Path("/usr/lib/postgresql")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port}")


def pg_bin() -> Path | None:
    """The newest installed PostgreSQL bin folder holding initdb and pg_ctl."""
    if not PG_BIN_ROOT.is_dir():
        return None
    versions = sorted(
        (p for p in PG_BIN_ROOT.iterdir() if p.name.isdigit()), key=lambda p: int(p.name)
    )
    for version in reversed(versions):
        if (version / "bin" / "initdb").exists() and (version / "bin" / "pg_ctl").exists():
            return version / "bin"
    return None


def missing_binaries() -> str:
    """Why the service tests cannot run here, or '' when they can."""
    problems = []
    if not shutil.which("redis-server"):
        problems.append("redis-server is not installed (apt-get install redis-server)")
    if pg_bin() is None:
        problems.append("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    elif os.geteuid() == 0 and not shutil.which("runuser"):
        problems.append("running as root without runuser: initdb refuses root")
    return "; ".join(problems)


class RedisServer:
    """`redis-server` without persistence: a restart comes back empty, like a lost broker."""

    def __init__(self, log_path: Path) -> None:
        self.port = free_port()
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        cmd = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--daemonize", "no"]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=self.log_path.open("ab"), stderr=subprocess.STDOUT)
        wait_for_port(self.port)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)  # as a crash: no goodbye to the clients
            self.proc.wait(timeout=10)


class PostgresCluster:
    """A throw-away cluster (trust auth, loopback only) run as the `postgres` OS user if root.

    Its folder is made directly under the temp dir: pytest's own temp root is private to root,
    so the `postgres` user could not reach a folder inside it.
    """

    def __init__(self) -> None:
        self.bin = pg_bin()
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="odportal-faults-pg-"))
        self.data_dir = self.root / "data"
        self.log_path = self.root / "postgres.log"

    def _run(self, *args: str) -> None:
        cmd = [str(self.bin / args[0]), *args[1:]]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {done.stdout[-1500:]}{done.stderr[-1500:]}")

    def init(self) -> PostgresCluster:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data_dir), "-A", "trust", "-U", "postgres",
                  "--no-sync", "-E", "UTF8")  # fmt: skip
        return self

    def _ctl(self, action: str, *extra: str) -> None:
        opts = f"-p {self.port} -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data_dir), "-o", opts, "-l", str(self.log_path),
                  "-w", "-t", "60", *extra, action)  # fmt: skip

    def start(self) -> None:
        self._ctl("start")

    def stop(self) -> None:
        self._ctl("stop", "-m", "fast")

    def restart(self) -> None:
        """Fast restart: every client connection is cut, in-flight transactions roll back."""
        self._ctl("restart", "-m", "fast")

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, name: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"


class Beat:
    """`celery beat` with its own schedule file, in its own process group."""

    def __init__(self, env: dict[str, str], tmp: Path) -> None:
        self.env = env
        self.schedule = tmp / "celerybeat-schedule"
        self.log_path = tmp / "beat.log"
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> Beat:
        cmd = [sys.executable, "-m", "celery", "-A", "odportal", "beat", "--loglevel", "INFO",
               "--schedule", str(self.schedule)]  # fmt: skip
        self.proc = subprocess.Popen(  # noqa: S603 - fixed argv
            cmd, cwd=ROOT, env=self.env, stdout=self.log_path.open("ab"),
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        self.starts += 1
        deadline = time.monotonic() + 30
        while self.log_path.read_text().count("beat: Starting") < self.starts:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"beat did not start:\n{self.log_path.read_text()[-3000:]}")
            time.sleep(0.1)
        return self

    def stop(self) -> None:
        process_group_stop(self.proc, timeout_s=15)
