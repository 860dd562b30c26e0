"""Helpers shared by the test modules (fixtures live in the conftest.py files, factories in
tests/factories.py). Nothing here is a test; test modules never import from one another.

- Subprocesses: the embedded environment, and checking a command leaves no helper running.
- Threads released at once, each on its own database connection (the concurrency tests).
- A real Celery worker process against the test database and broker.
- The polling sandbox (its offices, throttle scale) and how to run and check a refresh.
- The Open Dental client's contract sandbox (its offices and control API).
- A minimal HTTP client for the sandbox's own tests.
- Private Redis and PostgreSQL servers the service-outage tests stop and restart.
- A bare TCP listener that records what reaches it (requests that must not leave).
- Every URL pattern of the project as a concrete URL, for the security tests.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from django.db import connection
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.exceptions import Resolver404

from integrations.devtools.bench.common import process_group_stop
from integrations.offices.models import AgingSnapshot, PollKind, PollRun
from integrations.offices.services.aging.recipe import OPEN_DENTAL_BUCKETS
from integrations.offices.services.polling import dispatch, execute
from odsandbox.config import OfficeSpec, SandboxConfig
from odsandbox.testing import RunningSandbox, running_sandbox

ROOT = Path(__file__).resolve().parents[1]  # the repository


# --- subprocesses ------------------------------------------------------------------------------
# Start a command and check it leaves no helper process behind.

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


# --- threads released at once ---------------------------------------------------------------
# For races: each call runs in a thread of its own, so on a database connection of its own (use
# django_db(transaction=True), so that each commits and the others see it).

POSTGRES_ONLY = "needs PostgreSQL (concurrent writers and their locks); CI runs it there"


def at_once(calls: list[Callable[[], Any]], timeout: float = 60) -> list[BaseException | None]:
    """Start every call together; return what each one raised (None when it returned)."""
    barrier = threading.Barrier(len(calls))
    raised: list[BaseException | None] = [None] * len(calls)

    def run(i: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=timeout)
            call()
        except BaseException as exc:  # reported to the test
            raised[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c), daemon=True) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    assert not any(t.is_alive() for t in threads), "a call did not finish"
    return raised


# --- a real Celery worker ---------------------------------------------------------------------
# Against the test database and broker, with the sandbox settings the test passes in its env.


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


# --- the polling sandbox and refreshes run against it -----------------------------------------
# The fixtures on it (sandbox, sandbox_account, sandbox_control ...) are in tests/conftest.py.

THROTTLE_SCALE = 0.02  # 1 s -> 20 ms, 5 s -> 100 ms: the real rules, fast enough for tests
# Where Remote offices go in tests without a sandbox: nothing listens on port 9 (discard).
NOWHERE_URL = "http://127.0.0.1:9/api/v1"

POLLING_OFFICES = [
    OfficeSpec(name="Queries Office", guarantors=230, clinics=3),
    OfficeSpec(name="ReadAll Office", guarantors=40, permissions=("ApiReadAll",)),
    OfficeSpec(name="Down Office", guarantors=10, econnector_down=True),
    OfficeSpec(name="Disabled Office", guarantors=10, key_status="DisabledByCustomer"),
    OfficeSpec(name="Spare Office", guarantors=120, clinics=2),
]


@contextmanager
def polling_sandbox(data_dir: Path) -> Iterator[RunningSandbox]:
    """A live sandbox serving POLLING_OFFICES over real HTTP, control API on."""
    config = SandboxConfig(
        office_specs=POLLING_OFFICES,
        seed=7,
        throttle_scale=THROTTLE_SCALE,
        control=True,
        data_dir=str(data_dir),
        report_latency_ms=0,
    )
    with running_sandbox(config) as sb:
        yield sb


BUCKET_MAP = OPEN_DENTAL_BUCKETS  # ours -> Open Dental's names


def run_to_end(office, kind=PollKind.HEALTH, **kwargs) -> PollRun:
    """Queue a run and execute it like the task would, including its self-re-queues."""
    run, _ = dispatch.poll_enqueue(office=office, kind=kind, send=False, **kwargs)
    for _ in range(200):
        if execute.run_execute(run.pk) is None:
            break
    run.refresh_from_db()
    assert not run.is_active
    return run


def assert_matches_sandbox(snapshot: AgingSnapshot, expected: dict, clinics: bool = True) -> None:
    assert snapshot.guarantor_count == expected["all"]["guarantors"]
    for ours, theirs in BUCKET_MAP.items():
        assert getattr(snapshot, ours) == Decimal(str(expected["all"][theirs])), ours
    if clinics:
        assert set(snapshot.clinic_totals) == set(expected["clinics"])
        for num, totals in expected["clinics"].items():
            ours = snapshot.clinic_totals[num]
            assert int(ours["guarantors"]) == totals["guarantors"]
            for field, theirs in BUCKET_MAP.items():
                assert Decimal(ours[field]) == Decimal(str(totals[theirs])), (num, field)


# --- the Open Dental client's contract sandbox ------------------------------------------------
# Its fixtures (sandbox, http) are in tests/opendental/conftest.py.

CONTRACT_SCALE = 0.02
PAID = ("ApiReadAll", "ApiQueries")
CONTRACT_OFFICES = [
    OfficeSpec(name="Paid Clinics", guarantors=120, permissions=PAID, clinics=2),
    OfficeSpec(name="Read Only", guarantors=15, permissions=("ApiReadAll",), clinics=0),
    OfficeSpec(name="Service Mode", guarantors=30, permissions=PAID, clinics=0, mode="Service"),
    OfficeSpec(name="Faulty", guarantors=10, permissions=PAID, clinics=0),
    OfficeSpec(name="Throttle", guarantors=10, permissions=("ApiReadAll",), clinics=0),
    OfficeSpec(name="Enterprise", guarantors=10, permissions=(*PAID, "ApiEnterprise")),
]


def contract_office(sandbox: RunningSandbox, name: str) -> dict:
    """The manifest entry of one of CONTRACT_OFFICES."""
    return next(o for o in sandbox.manifest["offices"] if o["name"] == name)


def set_faults(sandbox: RunningSandbox, http: httpx.Client, name: str, **faults) -> None:
    key = contract_office(sandbox, name)["customer_key"]
    response = http.post(f"{sandbox.control_url}/offices/{key}/faults", json=faults)
    assert response.status_code == 200, response.text


def stats_for(sandbox: RunningSandbox, http: httpx.Client, name: str) -> dict:
    """The sandbox's request and throttle-violation counts for one office's key."""
    key = contract_office(sandbox, name)["customer_key"]
    stats = http.get(f"{sandbox.control_url}/stats").json()
    return stats["per_key"].get(hashlib.sha256(key.encode()).hexdigest()[:12], {})


# --- the sandbox's own tests (tests/sandbox) ---------------------------------------------------


class SandboxApi:
    """Minimal client for tests: sets the two headers and waits out throttle 429s."""

    def __init__(self, base_url: str, dev: str, cust: str) -> None:
        headers = {"Authorization": f"ODFHIR {dev}/{cust}", "Content-Type": "application/json"}
        self.http = httpx.Client(base_url=base_url, headers=headers, timeout=30)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send, retrying only throttle rejections (the shared sandbox paces at 10 ms)."""
        for _ in range(50):
            response = self.http.request(method, path, **kwargs)
            if response.status_code != 429 or response.text != "Too many requests.":
                return response
            # Whole seconds, rounded up: the shared sandbox's 10-50 ms intervals read as 1 s.
            time.sleep(min(int(response.headers["Retry-After"]), 0.05))
        return response

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def query(self, sql: str, **params: Any) -> httpx.Response:
        """PUT /queries/ShortQuery."""
        return self.request("PUT", "/queries/ShortQuery", json={"SqlCommand": sql}, params=params)


# --- private servers for the service-outage tests ---------------------------------------------
# Redis and PostgreSQL servers a test starts itself, so it may stop and restart them. Never the
# machine's shared servers: each runs on a free loopback port with its data in a temp folder,
# and is stopped when the test module ends.

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


# --- a bare TCP listener --------------------------------------------------------------------
# Stands in for a host requests must not reach: it records every connection and what was sent.


class Listener:
    """A TCP listener on loopback that records whatever a client sends it (answering ``[]``)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.received: list[bytes] = []
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            with conn:
                conn.settimeout(2)
                try:
                    self.received.append(conn.recv(65536))
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]")
                except OSError:
                    pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


# --- every URL pattern as a concrete URL (security tests) -------------------------------------
# `endpoints(objects)` yields one `Endpoint` per pattern, walked from the root resolver, with its
# URL built from the fixture objects (office, key, account, run ...). A pattern whose parameters
# cannot be filled, or whose built URL does not resolve back to it, is returned in
# `unbuildable` so tests fail loudly, naming it: new URLs added later are covered automatically
# or break the suite, never skipped silently.

# Which object a `<uuid:public_id>` stands for, by the first path segment of the route.
PUBLIC_ID_OWNER = {
    "offices": "office", "developer-accounts": "account", "runs": "run", "imports": "import_job",
    "bulk-jobs": "bulk_job",
    # Alerts (integrations.alerts): two kinds of object under one prefix.
    "alerts/incidents": "incident", "alerts/channels": "alert_channel",
}  # fmt: skip
# Other parameters, by name: an object attribute ("obj.attr") or a literal sample value.
PARAM_VALUES = {
    "key_id": "key.public_id",
    # The API console and API Events (integrations.apitools).
    "call_id": "console_call.public_id",
    "batch_id": "event_batch.public_id",
    "fmt": "csv",
    "number": "1",
    "token": "event_inbox.token",
    "username": "teammate",
    # Invitations and password resets (integrations.accounts, django.contrib.auth).
    "invitation_id": "invitation.public_id",
    "invitation_token": "invitation_link.token",
    "uidb64": "MQ",
    # Admin parameters (the admin is its own area: see ADMIN_NAMESPACE).
    "app_label": "offices",
    "object_id": "1",
    "content_type_id": "1",
    "url": "no-such-page/",
    "id": "1",
}
ADMIN_NAMESPACE = "admin"
_ROUTE_PARAM = re.compile(r"<(?:(?P<conv>[^>:]+):)?(?P<name>\w+)>")
_REGEX_GROUP = re.compile(r"\(\?P<(?P<name>\w+)>(?:[^()]|\([^()]*\))*\)")


@dataclass(frozen=True)
class Endpoint:
    """One URL pattern with a concrete URL; `owner` names the object it belongs to, if any."""

    name: str
    route: str
    url: str
    owner: str | None  # "office", "account", "run", "import_job", ... or None (not one object)
    view: Any

    @property
    def is_admin(self) -> bool:
        return self.name.startswith(ADMIN_NAMESPACE + ":")


def _walk(patterns, prefix: str = "", namespace: str = ""):
    for entry in patterns:
        piece = str(entry.pattern)
        if isinstance(entry, URLResolver):
            ns = namespace
            if entry.namespace:
                ns = f"{namespace}{entry.namespace}:"
            yield from _walk(entry.url_patterns, prefix + piece, ns)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}{entry.name}" if entry.name else f"{namespace}<unnamed>"
            yield name, prefix + piece, entry


def _value(param: str, route: str, objects: dict[str, Any]) -> tuple[str, str | None]:
    """(value, owning object name) for one parameter; KeyError when it cannot be filled."""
    if param == "public_id":
        parts = route.lstrip("^").split("/")
        owner = PUBLIC_ID_OWNER.get("/".join(parts[:2])) or PUBLIC_ID_OWNER[parts[0]]
        return str(objects[owner].public_id), owner
    spec = PARAM_VALUES[param]
    if "." in spec:
        obj, attr = spec.split(".", 1)
        return str(getattr(objects[obj], attr)), None
    return spec, None


def _build(route: str, objects: dict[str, Any]) -> tuple[str, str | None]:
    owner: list[str] = []

    def fill(match: re.Match) -> str:
        value, who = _value(match.group("name"), route, objects)
        owner.extend([who] if who else [])
        return value

    path = _REGEX_GROUP.sub(fill, route)  # regex groups first: they contain "<name>" too
    path = _ROUTE_PARAM.sub(fill, path).replace("^", "").replace("$", "").replace("\\", "")
    return "/" + path, owner[0] if owner else None


def endpoints(objects: dict[str, Any]) -> tuple[list[Endpoint], list[str]]:
    """All patterns as endpoints, and the patterns that could not be exercised (with why)."""
    found, unbuildable = [], []
    for name, route, entry in _walk(get_resolver().url_patterns):
        try:
            url, owner = _build(route, objects)
            match = resolve(url.split("?")[0])
        except (KeyError, Resolver404) as exc:
            unbuildable.append(f"{name} ({route}): {type(exc).__name__} {exc}")
            continue
        if match.func is not entry.callback:
            unbuildable.append(f"{name} ({route}): {url} resolves to {match.view_name}")
            continue
        found.append(Endpoint(name, route, url, owner, entry.callback))
    return found, unbuildable


def office_form_token(client) -> str:
    """The one-time token the add-office form gives the client's user (one per GET)."""
    html = client.get("/offices/new/").content.decode()
    match = re.search(r'name="form_token" value="([^"]+)"', html)
    assert match, "the add-office form has no form_token"
    return match.group(1)
