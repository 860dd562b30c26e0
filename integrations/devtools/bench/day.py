"""``bench day``: a fleet's day at the production schedule, compressed in time, through real
worker and beat processes against the sandbox, on Postgres and Redis.

A whole day at 10,000 offices is about 2.9 million health polls: more than a 2-core machine can
replay in minutes. So the benchmark runs a window of the day (``--hours``, simulated) with every
interval divided by ``--speed`` (the beat's entries, the offices' health interval, the hourly
full check, Open Dental's throttle: ``day_settings``), and normalises what it measured back to
a real day: ``cpu_core_fraction`` is the worker's CPU over the simulated seconds, so it is the
share of one core the real schedule would take.

The day's shape is production's: each office's health polls due at its own point of the
interval, its last full check spread over the hour, its daily aging at its own time of day
(those falling inside the window run; the rest of the fleet would run in the rest of the day),
offices of varied sizes (``day_sandbox``), and faults injected through the sandbox's control
API at the start: eConnectors down, keys disabled by the office, and eConnectors that come back
halfway; and as many health runs from past the retention as the window will add, so the
hourly pruning has real work while the day polls. While the window runs this process requests
the overview and the office list (the Django test client, the whole middleware stack) and
times them. At the end the beat stops, the
queued work drains, the poll history is pruned, and ``verified`` checks that every office ended
in the state its faults imply, that every office whose aging fell in the window holds the
sandbox's totals, and that no run the pruning should have removed is left.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Exists, OuterRef
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from integrations.alerts.models import Delivery, Heartbeat, Incident
from integrations.devtools.bench import common, fleet
from integrations.devtools.sandbox import sandbox_settings
from integrations.offices.models import (
    ACTIVE_OUTCOMES,
    AgingRow,
    AgingSnapshot,
    CustomerKey,
    Office,
    OfficeStatus,
    OfficeStatusChange,
    PollKind,
    PollRun,
    RunOutcome,
)
from integrations.offices.services.aging import snapshots
from integrations.offices.services.polling import history
from odportal.celery import app

DAY_S = 86_400
HEALTH_INTERVAL_S = 300  # production's default (Office.health_interval_s)
# Tables that grow with polling; the rest of the schema does not grow with time.
GROWING = (PollRun, OfficeStatusChange, AgingSnapshot, AgingRow, Incident, Delivery, Heartbeat)
FAULTS = {
    "econnector_down": ({"econnector_down": True}, OfficeStatus.ECONNECTOR_DOWN),
    "key_disabled": ({"key_status": "DisabledByCustomer"}, OfficeStatus.KEY_DISABLED),
    "econnector_back": ({"econnector_down": True}, OfficeStatus.OK),  # restored halfway
}
SETTINGS_MODULE = "integrations.devtools.bench.day_settings"
SANDBOX_MODULE = "integrations.devtools.bench.day_sandbox"
SWEEP_TASK = "offices.sweep"
SWEEP_LOG = re.compile(rb"Task offices\.sweep\[[^\]]+\] succeeded in ([0-9.]+)s")


@dataclass
class DayOptions:
    offices: int = 10_000
    # The production schedule itself: 10,000 offices at speed 4 measured a machine out of CPU
    # (docs/benchmarks.md); the window is 12 minutes of a real day.
    speed: int = 1
    hours: float = 0.2
    guarantors: int = 150  # the median office (day_sandbox spreads the sizes)
    fault_fraction: float = 0.02
    concurrency: int = 16
    workers: int = 1  # worker processes, sharing the broker, the pacer and the database
    page_every_s: float = 1.0
    drain_s: float = 300.0
    seed: int = 20
    keep: bool = False


@dataclass
class _Window:
    seeded: datetime
    started: datetime
    ends: datetime
    speed: int
    faulted: dict[str, list[Office]] = field(default_factory=dict)
    aging_due: dict[int, datetime] = field(default_factory=dict)
    page_ms: dict[str, list[float]] = field(default_factory=dict)
    history: dict[str, int] = field(default_factory=dict)


def day_run(options: DayOptions, say: common.Say) -> dict[str, Any]:
    """Run the day; returns its figures (``verified``: every office as its faults imply)."""
    _require(options)
    work_dir = Path(settings.VAR_DIR) / f"bench-day-{options.offices}x{options.guarantors}"
    sandbox = common.sandbox_process(
        offices=options.offices, guarantors=options.guarantors,
        throttle_scale=1 / options.speed, latency_ms=0, work_dir=work_dir,
    )  # fmt: skip
    sandbox.cmd[sandbox.cmd.index("odsandbox")] = SANDBOX_MODULE  # offices of varied sizes
    children: list[common.Child] = []
    pointed = contextlib.ExitStack()
    try:
        manifest = common.read_manifest(sandbox.start(priority=-10), work_dir)
        pointed.enter_context(sandbox_settings(manifest["base_url"]))
        control = fleet.control_url(manifest["base_url"])
        say(f"sandbox: {manifest['base_url']} (log {sandbox.log_path})")
        expected = fleet.expected_totals(control, manifest, say)  # builds every office's file
        # In import order, so --seed picks the same schedule and faults from run to run.
        offices = sorted(fleet.fleet_create(manifest, say), key=lambda office: office.pk)
        env = _child_env(options)
        workers = []
        for index in range(options.workers):
            worker = common.worker_process(
                concurrency=options.concurrency,
                env=env,
                work_dir=work_dir,
                name=f"bench-day-{os.getpid()}-{index}",
            )
            children.append(worker.start())
            workers.append(worker)
        for worker in workers:
            worker.wait_for_log(b" ready.", timeout=90)
            say(f"worker: threads pool, concurrency {options.concurrency} "
                f"(log {worker.log_path})")  # fmt: skip
        beat = _beat_process(env, work_dir)
        children.append(beat)
        figures = _day(options, offices, control, workers, beat, say)
        verified = _verify(figures.pop("_window"), offices, expected, say)
        return {**figures, "verified": verified}
    finally:
        for child in reversed(children):
            child.stop()
        sandbox.stop()
        pointed.close()
        if not options.keep:
            fleet.fleet_cleanup(say)


def _require(options: DayOptions) -> None:
    if connection.vendor != "postgresql":
        raise RuntimeError("needs Postgres: set DATABASE_URL=postgres://... (the day's writes "
                           "and pg_total_relation_size are Postgres's)")  # fmt: skip
    if not settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
        raise RuntimeError("needs Redis: set REDIS_URL=redis://... (broker and shared pacer)")
    if options.offices < 10:
        raise RuntimeError("--offices must be at least 10 (a few of them get faults)")
    if options.speed < 1 or HEALTH_INTERVAL_S % options.speed:
        raise RuntimeError(f"--speed must divide {HEALTH_INTERVAL_S} (the health interval is "
                           "whole seconds): 1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 25, 30, 50, 60, "
                           "75, 100, 150 or 300")  # fmt: skip
    if options.workers < 1:
        raise RuntimeError("--workers must be at least 1")
    if options.hours <= 0 or options.hours > 24:
        raise RuntimeError("--hours is the simulated window: more than 0, at most 24")


def _child_env(options: DayOptions) -> dict[str, str]:
    # A queue of this run's own: a shared Redis may carry other deployments' or tests' work.
    # The hourly pruning at least once inside a window shorter than its (compressed) hour, so
    # it deletes while the day polls.
    hour_s = 3600 / options.speed
    window_s = options.hours * hour_s
    prune_every = hour_s if window_s >= 1.5 * hour_s else window_s / 2
    return {
        "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE,
        "ODPORTAL_BENCH_DAY_SPEED": str(options.speed),
        "ODPORTAL_BENCH_DAY_PRUNE_EVERY_S": f"{prune_every:.3f}",
        "CELERY_TASK_DEFAULT_QUEUE": f"bench-day-{os.getpid()}",
    }


def _beat_process(env: dict[str, str], work_dir: Path) -> common.Child:
    schedule = work_dir / "celerybeat-schedule"
    for stale in work_dir.glob("celerybeat-schedule*"):
        stale.unlink()  # a fresh schedule: every entry starts its interval at the window's start
    cmd = [sys.executable, "-m", "celery", "-A", "odportal", "beat", "--loglevel", "INFO",
           "--schedule", str(schedule)]  # fmt: skip
    return common.Child("bench-day-beat", cmd, {**os.environ, **env}, work_dir / "beat.log")


# --- the window ------------------------------------------------------------------------------


def _day(
    options: DayOptions,
    offices: list[Office],
    control: str,
    workers: list[common.Child],
    beat: common.Child,
    say: common.Say,
) -> dict[str, Any]:
    rng = random.Random(options.seed)
    wall_s = options.hours * 3600 / options.speed
    http = httpx.Client(base_url=control, timeout=60)
    client = Client(HTTP_HOST=_allowed_host())
    client.force_login(get_user_model().objects.get(username=fleet.BENCH_USER))
    _pages_time(client, {})  # warm-up: imports, templates, connections
    now = timezone.now()
    old_runs, old_newest = _history_seed(offices, options, now)
    sizes_before = _tables()
    window = _Window(now, now, now + timedelta(seconds=wall_s), options.speed)
    window.aging_due = _schedule(offices, options, rng, now)
    window.faulted = _faults_inject(http, offices, options, rng)
    http.post("/stats/reset").raise_for_status()
    cpu_before = sum(common.tree_cpu_s(w.pid) for w in workers)
    beat.start().wait_for_log(b"beat: Starting", timeout=60)
    # Beat's first sweep comes one interval after it starts: the day's sweeps start now, as a
    # running deployment's would (otherwise the first one catches up a whole extra interval).
    app.send_task(SWEEP_TASK, queue=_child_env(options)["CELERY_TASK_DEFAULT_QUEUE"])
    window.started = timezone.now()  # the simulated day runs from here (polls from the seeding)
    say(f"day: {options.hours:g} h of the day at speed {options.speed}: {wall_s:.0f} s; faults "
        + ", ".join(f"{k} {len(v)}" for k, v in window.faulted.items()))  # fmt: skip
    _window_run(window, client, http, wall_s, options.page_every_s, say)
    stopped = timezone.now()
    beat_cpu = common.tree_cpu_s(beat.pid)
    beat.stop()
    drained = _drain(options.drain_s, say)
    worker_cpu = sum(common.tree_cpu_s(w.pid) for w in workers) - cpu_before
    stats = http.get("/stats").json()
    http.close()
    by_beat = (
        old_runs
        - PollRun.objects.filter(
            office__account_id=offices[0].account_id, queued_at__lte=old_newest
        ).count()
    )  # what the beat's pruning removed while the day polled
    prune_s = _prune(say)
    grown = _growth(sizes_before, _tables())
    simulated_s = (stopped - window.started).total_seconds() * options.speed
    window.ends = stopped
    window.history = {**_history_left(offices, old_runs, old_newest, say), "by_beat": by_beat}
    return _figures(
        options, offices, window, simulated_s, worker_cpu, beat_cpu, stats, grown, prune_s,
        [s for w in workers for s in _sweeps(w.log_path)], drained,
    )  # fmt: skip


def _schedule(
    offices: list[Office], options: DayOptions, rng: random.Random, now: datetime
) -> dict[int, datetime]:
    """Each office at its own point of the interval, the hour and the day, compressed."""
    interval = HEALTH_INTERVAL_S // options.speed
    full_every = settings.HEALTH_FULL_CHECK_INTERVAL_S / options.speed
    day = DAY_S / options.speed
    for office in offices:
        office.health_interval_s = interval
        office.next_health_at = now + timedelta(seconds=rng.uniform(0, interval))
        office.health_full_at = now - timedelta(seconds=rng.uniform(0, full_every))
        office.next_aging_at = now + timedelta(seconds=rng.uniform(0, day))
    Office.objects.bulk_update(
        offices, ["health_interval_s", "next_health_at", "health_full_at", "next_aging_at"],
        batch_size=1000,
    )  # fmt: skip
    # The keys were enabled before the day (a key enabled since the last full check gets one).
    CustomerKey.objects.filter(office__account_id=offices[0].account_id).update(
        enabled_at=now - timedelta(seconds=full_every + 1)
    )
    return {o.pk: o.next_aging_at for o in offices}


def _faults_inject(
    http: httpx.Client, offices: list[Office], options: DayOptions, rng: random.Random
) -> dict[str, list[Office]]:
    each = max(1, round(len(offices) * options.fault_fraction / len(FAULTS)))
    chosen = rng.sample(offices, each * len(FAULTS))
    faulted = {}
    for index, (name, (change, _)) in enumerate(FAULTS.items()):
        faulted[name] = chosen[index * each : (index + 1) * each]
        for office in faulted[name]:
            http.post(f"/offices/{office.manifest_key}/faults", json=change).raise_for_status()
    return faulted


def _window_run(
    window: _Window,
    client: Client,
    http: httpx.Client,
    wall_s: float,
    every_s: float,
    say: common.Say,
) -> None:
    """Time the pages while the day runs; bring the eConnectors back halfway."""
    started = time.monotonic()
    halfway, last_said = started + wall_s / 2, started
    while (now := time.monotonic()) < started + wall_s:
        if halfway and now >= halfway:
            for office in window.faulted["econnector_back"]:
                reset = http.post(f"/offices/{office.manifest_key}/faults", json={"reset": True})
                reset.raise_for_status()
            halfway = 0.0
            say("day: halfway, eConnectors back for " + str(len(window.faulted["econnector_back"])))
        _pages_time(client, window.page_ms)
        if now - last_said >= 30:
            runs = PollRun.objects.filter(queued_at__gte=window.seeded).count()
            say(f"day: {now - started:.0f}/{wall_s:.0f} s, {runs} poll runs so far")
            last_said = now
        time.sleep(max(0.0, every_s - (time.monotonic() - now)))


def _allowed_host() -> str:
    """A host name this deployment answers to (the test client's default is not one)."""
    named = [h for h in settings.ALLOWED_HOSTS if h not in ("*", "") and not h.startswith(".")]
    return named[0] if named else "localhost"


def _pages_time(client: Client, page_ms: dict[str, list[float]]) -> None:
    for name, url in (("overview", reverse("overview")), ("office_list", reverse("office_list"))):
        started = time.perf_counter()
        response = client.get(url, secure=True)  # production sits behind TLS
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}")
        page_ms.setdefault(name, []).append(elapsed)


def _history_seed(offices: list[Office], options: DayOptions, now: datetime):
    """Health runs from past the retention, as many as the window adds: while the day polls,
    the pruning has a day's worth of real work. Returns (count, newest)."""
    per_office = max(1, round(options.hours * 3600 / HEALTH_INTERVAL_S))
    newest = now - timedelta(days=settings.POLL_RUN_RETENTION_DAYS + 1)
    times = [newest - timedelta(seconds=i * HEALTH_INTERVAL_S) for i in range(per_office)]
    old = [
        PollRun(office=o, kind=PollKind.HEALTH, outcome=RunOutcome.OK, queued_at=t,
                started_at=t, finished_at=t, requests=1)
        for o in offices for t in times
    ]  # fmt: skip
    PollRun.objects.bulk_create(old, batch_size=5000)
    return len(old), newest


def _history_left(offices: list[Office], seeded: int, newest: datetime, say: common.Say):
    """The seeded runs still there, and those of them a newer run of their office follows
    (which the pruning should have removed)."""
    old = PollRun.objects.filter(office__account_id=offices[0].account_id, queued_at__lte=newest)
    newer = PollRun.objects.filter(
        office_id=OuterRef("office_id"), kind=OuterRef("kind"), queued_at__gt=OuterRef("queued_at")
    )
    left, prunable = old.count(), old.filter(Exists(newer)).count()
    say(f"prune: {seeded - left} of {seeded} runs from past the retention removed, "
        f"{prunable} prunable left")  # fmt: skip
    return {"seeded": seeded, "pruned": seeded - left, "prunable_left": prunable}


def _drain(timeout_s: float, say: common.Say) -> float:
    """Wait for the runs the last sweeps queued; returns how long that took."""
    started = time.monotonic()
    while PollRun.objects.filter(outcome__in=ACTIVE_OUTCOMES).exists():
        if time.monotonic() - started > timeout_s:
            raise RuntimeError(f"poll runs still active {timeout_s:.0f}s after the window")
        time.sleep(0.5)
    drained = time.monotonic() - started
    say(f"day: window over, queued work drained in {drained:.1f}s")
    return drained


def _prune(say: common.Say) -> float:
    """The pruning beat runs hourly, once more after the window (timed)."""
    started = time.monotonic()
    runs = history.poll_runs_prune()
    pruned = snapshots.snapshots_prune()
    seconds = time.monotonic() - started
    say(f"prune: {runs} poll runs and {pruned} snapshots past retention, {seconds:.2f}s")
    return seconds


def _tables() -> dict[str, tuple[int, int, int]]:
    """Each growing table's (live rows, bytes on disk with its indexes and TOAST, row slots:
    live and dead rows by ANALYZE's count, what the bytes are spread over)."""
    sizes = {}
    with connection.cursor() as cursor:
        for model in GROWING:
            table = model._meta.db_table
            quoted = connection.ops.quote_name(table)  # a model's table, never user input
            cursor.execute(f"ANALYZE {quoted}")
            cursor.execute(
                f"SELECT (SELECT count(*) FROM {quoted}), pg_total_relation_size(%s::regclass),"  # noqa: S608
                " (SELECT n_live_tup + n_dead_tup FROM pg_stat_user_tables"
                "  WHERE relid = %s::regclass)",
                [table, table],
            )
            rows, size, slots = cursor.fetchone()
            sizes[table] = (int(rows), int(size), max(int(rows), int(slots or 0)))
    return sizes


def _growth(
    before: dict[str, tuple[int, int, int]], after: dict[str, tuple[int, int, int]]
) -> dict:
    """What the window left behind after the pruning, per table: the rows added net of those
    removed, at each table's bytes per row slot (dead rows' space counted as theirs, so an
    earlier run's leftovers do not inflate it); and the files' growth.

    Why both: the seeded runs from past the retention are as many as the window adds, so the
    net rows are what a day leaves once the retention window is full (steady state). The
    files' growth is larger for a while: Postgres reuses the removed rows' space only after
    autovacuum has passed, which a window this short does not wait for.
    """
    rows = {table: after[table][0] - before[table][0] for table in after}
    live = sum(
        delta * after[table][1] / after[table][2]
        for table, delta in rows.items()
        if after[table][2]
    )
    disk = sum(after[table][1] - before[table][1] for table in after)
    return {"rows": rows, "live_bytes": live, "disk_bytes": disk}


def _sweeps(worker_log: Path) -> list[float]:
    """Each sweep's run time, as the worker logged it."""
    return [float(m) for m in SWEEP_LOG.findall(worker_log.read_bytes())]


def _p95(values: list[float]) -> float | None:
    return round(common.percentile(values, 0.95), 1) if values else None


def _figures(
    options: DayOptions,
    offices: list[Office],
    window: _Window,
    simulated_s: float,
    worker_cpu: float,
    beat_cpu: float,
    stats: dict,
    grown: dict,
    prune_s: float,
    sweeps: list[float],
    drain_s: float,
) -> dict[str, Any]:
    n = len(offices)
    core_fraction = worker_cpu / simulated_s
    intervals = simulated_s / HEALTH_INTERVAL_S
    days = simulated_s / DAY_S
    runs = PollRun.objects.filter(queued_at__gte=window.seeded)
    return {
        "offices": n,
        "workers": options.workers,
        "speed": options.speed,
        "simulated_h": round(simulated_s / 3600, 3),
        "wall_s": round(simulated_s / options.speed, 1),
        "drain_s": round(drain_s, 1),
        "health_polls": runs.filter(kind="health").count(),
        "aging_refreshes": runs.filter(kind="aging").count(),
        "worker_cpu_s": round(worker_cpu, 2),
        "beat_cpu_s": round(beat_cpu, 2),
        "cpu_core_fraction": round(core_fraction, 4),
        "cpu_s_per_office_day": round(core_fraction * DAY_S / n, 3),
        "requests": stats["requests"],
        "requests_per_office_interval": round(stats["requests"] / n / intervals, 3),
        "db_bytes_per_office_day": round(grown["live_bytes"] / n / days),
        "db_disk_bytes_per_office_day": round(grown["disk_bytes"] / n / days),
        "db_rows_per_office_day": {
            table: round(delta / n / days, 2) for table, delta in grown["rows"].items()
        },
        "prune_s": round(prune_s, 3),
        "old_runs": window.history,
        "sweeps": len(sweeps),
        "sweep_s": round(max(sweeps), 3) if sweeps else None,
        "sweep_p50_s": round(statistics.median(sweeps), 3) if sweeps else None,
        "overview_p95_ms": _p95(window.page_ms.get("overview", [])),
        "office_list_p95_ms": _p95(window.page_ms.get("office_list", [])),
        "page_requests": sum(len(v) for v in window.page_ms.values()),
        "throttle_violations": stats["throttle_violations"],
        "violation_trace": _violation_trace(stats.get("recent_violations", [])),
        "faults": {name: len(group) for name, group in window.faulted.items()},
        "_window": window,
    }


def _violation_trace(recent: list[dict]) -> dict[str, Any] | None:
    """What the sandbox traced of the latest violations: how early (the gap to the key's
    previous admitted request, against the interval), between which calls, on one connection
    or two, and which of them opened its connection ("new")."""
    if not recent:
        return None
    gaps = [v["gap_ms"] for v in recent]
    pairs: dict[str, int] = {}
    for v in recent:
        ends = [
            v[path].rsplit("/", 1)[-1] + (" (new)" if v.get(nth) == 1 else "")
            for path, nth in (("previous_path", "previous_nth_on_connection"),
                              ("path", "nth_on_connection"))
        ]  # fmt: skip
        connections = "one connection" if v.get("same_connection") else "two connections"
        pair = f"{ends[0]} -> {ends[1]}, {connections}"
        pairs[pair] = pairs.get(pair, 0) + 1
    return {
        "traced": len(recent),
        "interval_ms": recent[0]["interval_ms"],
        "gap_ms_min": min(gaps),
        "gap_ms_p50": statistics.median(gaps),
        "gap_ms_max": max(gaps),
        "pairs": dict(sorted(pairs.items(), key=lambda item: -item[1])),
    }


# --- verification ----------------------------------------------------------------------------


def _verify(window: _Window, offices: list[Office], expected: dict, say: common.Say) -> bool:
    """Every office in the state its faults imply; aging due in the window matches the sandbox."""
    implied = {o.pk: status for name, (_, status) in FAULTS.items() for o in window.faulted[name]}
    ids = [o.pk for o in offices]
    statuses = dict(Office.objects.filter(pk__in=ids).values_list("pk", "status"))
    wrong = [o for o in offices if statuses[o.pk] != implied.get(o.pk, OfficeStatus.OK)]
    for office in wrong[:10]:
        want = implied.get(office.pk, OfficeStatus.OK)
        say(f"verify: {office.name}: {statuses[office.pk]}, expected {want}")
    say(f"verify: {len(offices) - len(wrong)}/{len(offices)} offices in their implied state")
    # Aging due before the last sweep ran (a sweep interval before the beat stopped), on
    # offices whose eConnector answers by then.
    last_sweep = window.ends - timedelta(seconds=settings.SWEEP_INTERVAL_S / window.speed)
    down = {o.pk for name in ("econnector_down", "key_disabled") for o in window.faulted[name]}
    due = [o for o in offices if o.pk not in down and window.aging_due[o.pk] <= last_sweep]
    aging_ok, _ = fleet.verify(due, expected, say) if due else (True, 0)
    return not wrong and aging_ok and window.history["prunable_left"] == 0
