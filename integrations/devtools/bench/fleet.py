"""``bench fleet``: one aging refresh of a whole fleet, through real workers, against the sandbox.

The sandbox runs in its own process (its CPU is not the worker's), a Celery worker runs the way
production does (threads pool), and the database is set up through the services: an account,
the sandbox offices imported from CSV with the machine's time zone (so today's aging is
"ready"), each marked as polled OK with its granted permissions. Only the aging refresh is
measured: from the first enqueue to the last run's finish.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import time
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Max, Min
from django.utils import timezone

from integrations.accounts.models import DeveloperAccount
from integrations.accounts.services import accounts
from integrations.devtools.bench import common
from integrations.devtools.sandbox import sandbox_settings
from integrations.offices.models import (
    ACTIVE_OUTCOMES,
    AgingRow,
    CustomerKey,
    Office,
    PollKind,
    PollRun,
)
from integrations.offices.services import health, imports
from integrations.offices.services.aging.recipe import OPEN_DENTAL_BUCKETS
from integrations.offices.services.polling import dispatch

BENCH_COMPANY = "odportal bench fleet"
BENCH_USER = "odportal-bench"
# Without a connection pool each worker thread holds a database connection (Postgres default:
# 100 connections); with ODPORTAL_DB_POOL_MAX threads share a bounded pool.
MAX_CONCURRENCY = 64
MAX_CONCURRENCY_POOLED = 512


@dataclass
class FleetOptions:
    offices: int
    guarantors: int
    interval_s: float = 1.0
    latency_ms: int = 0
    concurrency: int | None = None
    workers: int = 1
    timeout_s: float = 1800.0
    keep: bool = False


def fleet_run(options: FleetOptions, say: common.Say) -> dict[str, Any]:
    """Run the fleet benchmark; returns its figures (``verified`` says whether totals matched)."""
    work_dir = Path(settings.VAR_DIR) / f"bench-fleet-{options.offices}x{options.guarantors}"
    sandbox = common.sandbox_process(
        offices=options.offices, guarantors=options.guarantors,
        throttle_scale=options.interval_s / 1.0, latency_ms=options.latency_ms, work_dir=work_dir,
    )  # fmt: skip
    workers: list[common.Child] = []
    pointed = contextlib.ExitStack()
    try:
        # The sandbox stands in for Open Dental's servers, which do not share our CPU: at a
        # higher priority the worker's and Postgres's bursts do not delay its clock.
        manifest = common.read_manifest(sandbox.start(priority=-10), work_dir)
        # Remote offices (all of the fleet's) go to it, here and in the workers started below.
        pointed.enter_context(sandbox_settings(manifest["base_url"]))
        control = control_url(manifest["base_url"])
        say(f"sandbox: {manifest['base_url']} (log {sandbox.log_path})")
        expected = expected_totals(control, manifest, say)
        offices = fleet_create(manifest, say)
        cap = MAX_CONCURRENCY_POOLED if settings.DB_POOL_MAX else MAX_CONCURRENCY
        per_worker = -(-options.offices // options.workers)  # the offices split between them
        concurrency = options.concurrency or min(max(per_worker, 4), cap)
        for index in range(options.workers):
            workers.append(_worker_start(options, concurrency, work_dir, say, index))
        return _measure(options, offices, expected, control, workers, say)
    finally:
        for worker in workers:
            worker.stop()
        sandbox.stop()
        pointed.close()
        if not options.keep:
            fleet_cleanup(say)


def control_url(base_url: str) -> str:
    parts = urlsplit(base_url)
    return urlunsplit((parts.scheme, parts.netloc, "/_sandbox", "", ""))


def expected_totals(control: str, manifest: dict, say: common.Say) -> dict[str, dict]:
    """Totals straight from the sandbox; also builds every office file before the clock starts."""
    started = time.monotonic()
    with httpx.Client(base_url=control, timeout=120) as http:
        totals = {
            o["customer_key"]: http.get(f"/offices/{o['customer_key']}/aging-totals").json()
            for o in manifest["offices"]
        }
    say(f"sandbox: {len(totals)} offices generated in {time.monotonic() - started:.1f}s")
    return totals


# --- database setup --------------------------------------------------------------------------


def fleet_create(manifest: dict, say: common.Say) -> list[Office]:
    """Account, offices and keys through the services; each office marked as polled OK."""
    fleet_cleanup(say)
    user, _ = get_user_model().objects.get_or_create(username=BENCH_USER)
    account = accounts.developer_account_create(
        actor=user, developer_key=manifest["developer_key"], company_name=BENCH_COMPANY,
        contact_phone="+1 555 0100", billing_email="bench@example.com",
        billing_address="1 Bench Way", app_description="Benchmark", dev_name=manifest["dev_name"],
    )  # fmt: skip
    accounts.requested_permissions_set(
        account=account, actor=user, matrix={"Queries": {"read": True}}
    )
    result = imports.offices_import(
        account=account, actor=user, source=_manifest_csv(manifest), filename="fleet.csv"
    )
    if result.created != len(manifest["offices"]):
        raise RuntimeError(f"office import: {result.summary}")
    by_name = {_office_name(i, o): o for i, o in enumerate(manifest["offices"])}
    offices = list(Office.objects.filter(account=account).select_related("account"))
    for office in offices:
        spec = by_name[office.name]
        office.manifest_key = spec["customer_key"]
        key = office.keys.get(is_current=True)
        health.office_health_record_ok(office=office, key=key, result=_health(spec))
    say(f"database: {len(offices)} offices imported and marked OK")
    return offices


def _manifest_csv(manifest: dict) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["name", "customer_key", "api_mode", "base_url", "time_zone"])
    zone = common.local_time_zone()
    for i, office in enumerate(manifest["offices"]):
        # Remote: no base URL, they go to OPENDENTAL_REMOTE_BASE_URL (the sandbox's here).
        row = [_office_name(i, office), office["customer_key"], "remote", ""]
        writer.writerow([*row, zone])
    return out.getvalue()


def _office_name(index: int, office: dict) -> str:
    return f"{office['name']} [{index}]"


def _health(spec: dict) -> health.HealthResult:
    """What a health poll of this sandbox office would have found."""
    return health.HealthResult(
        granted=frozenset(spec["permissions"]), version="24.3.1.0", date_last_aging=date.today(),
        aging_time_due=None, clinics=[], latency_ms=1,
    )  # fmt: skip


def fleet_cleanup(say: common.Say) -> None:
    """Remove what an earlier fleet benchmark left behind (only its own account)."""
    for account in DeveloperAccount.objects.filter(company_name=BENCH_COMPANY):
        office_ids = list(account.offices.values_list("pk", flat=True))
        Office.objects.filter(pk__in=office_ids).update(current_snapshot=None)
        AgingRow.objects.filter(snapshot__office_id__in=office_ids)._raw_delete(connection.alias)
        CustomerKey.objects.filter(office_id__in=office_ids).delete()
        Office.objects.filter(pk__in=office_ids).delete()
        account.delete()
        say(f"database: removed an earlier benchmark account ({len(office_ids)} offices)")


# --- the measured refresh --------------------------------------------------------------------


def _worker_start(
    options: FleetOptions, concurrency: int, work_dir: Path, say: common.Say, index: int
) -> common.Child:
    # Database and broker come from the environment, as for this process (DATABASE_URL,
    # REDIS_URL, else the embedded defaults), and so does the sandbox's address
    # (``sandbox_settings``); only the throttle scale is the benchmark's.
    env = {
        "OPENDENTAL_THROTTLE_SCALE": repr(options.interval_s / 1.0),
        "DJANGO_SETTINGS_MODULE": "odportal.settings",
    }
    worker = common.worker_process(
        concurrency=concurrency, env=env, work_dir=work_dir, name=f"bench-{os.getpid()}-{index}"
    )
    worker.start().wait_for_log(b" ready.", timeout=90)
    broker = "Redis" if settings.CELERY_BROKER_URL.startswith("redis") else "filesystem"
    say(f"worker: threads pool, concurrency {concurrency}, {broker} broker, "
        f"{connection.vendor} (log {worker.log_path})")  # fmt: skip
    return worker


def _measure(
    options: FleetOptions,
    offices: list[Office],
    expected: dict[str, dict],
    control: str,
    workers: list[common.Child],
    say: common.Say,
) -> dict[str, Any]:
    _broker_connect()
    http = httpx.Client(base_url=control, timeout=60)
    http.post("/stats/reset").raise_for_status()
    cpu_before = sum(common.tree_cpu_s(w.pid) for w in workers)
    started_at = timezone.now()
    # Queued as the sweep queues them: AGING_BATCH_SIZE offices a task (aging_batch).
    run_ids, broker_down = dispatch.polls_queue(offices, PollKind.AGING)
    if broker_down or len(run_ids) != len(offices):
        raise RuntimeError(f"only {len(run_ids)} of {len(offices)} aging runs could be queued")
    batches = -(-len(run_ids) // max(settings.AGING_BATCH_SIZE, 1))
    say(f"refresh: {len(run_ids)} aging runs queued in {batches} task(s)")
    _wait(run_ids, options.timeout_s, say)
    cpu_s = sum(common.tree_cpu_s(w.pid) for w in workers) - cpu_before
    stats = http.get("/stats").json()
    http.close()
    qs = PollRun.objects.filter(pk__in=run_ids)
    span = qs.aggregate(first=Min("queued_at"), last=Max("finished_at"), most=Max("requests"))
    wall_s = (span["last"] - min(started_at, span["first"])).total_seconds()
    ideal_s = span["most"] * options.interval_s
    verified, rows = verify(offices, expected, say)
    requests = stats["requests"]
    return {
        "offices": len(offices),
        "workers": len(workers),
        "requests": requests,
        "rows": rows,
        "wall_s": round(wall_s, 3),
        "ideal_s": round(ideal_s, 3),
        "efficiency": round(ideal_s / wall_s, 4) if wall_s > 0 else None,
        "worker_cpu_s": round(cpu_s, 3),
        "cpu_ms_per_request": round(cpu_s * 1000 / requests, 3) if requests else None,
        "throttle_violations": stats["throttle_violations"],
        "verified": verified,
    }


def _broker_connect() -> None:
    """Connect to the broker before the clock starts, as a sweep's long-lived process is.

    The first send in a process imports the transport and connects (most of a second here).
    """
    with dispatch.broker_producer():
        pass


def _wait(run_ids: list[int], timeout_s: float, say: common.Say) -> None:
    deadline = time.monotonic() + timeout_s
    last_said = 0.0
    while time.monotonic() < deadline:
        active = PollRun.objects.filter(pk__in=run_ids, outcome__in=ACTIVE_OUTCOMES).count()
        if not active:
            return
        if time.monotonic() - last_said > 5:
            say(f"refresh: {len(run_ids) - active}/{len(run_ids)} runs finished")
            last_said = time.monotonic()
        time.sleep(0.2)
    raise RuntimeError(f"aging runs still unfinished after {timeout_s:.0f}s")


def verify(offices: list[Office], expected: dict[str, dict], say: common.Say) -> tuple[bool, int]:
    """Every office's current snapshot is complete and its totals equal the sandbox's."""
    problems: list[str] = []
    rows = 0
    for office in offices:
        office.refresh_from_db()
        snap = office.current_snapshot
        want = expected[office.manifest_key]["all"]
        if snap is None or snap.state != "complete":
            run = PollRun.objects.filter(office=office).order_by("-queued_at").first()
            problems.append(f"{office.name}: no complete snapshot ({run and run.error})")
            continue
        rows += snap.guarantor_count
        got = {ours: getattr(snap, ours) for ours in OPEN_DENTAL_BUCKETS}
        diff = [o for o, t in OPEN_DENTAL_BUCKETS.items() if got[o] != Decimal(str(want[t]))]
        if snap.guarantor_count != want["guarantors"] or diff:
            problems.append(f"{office.name}: totals differ ({diff or 'guarantor count'})")
    for line in problems[:10]:
        say(f"verify: {line}")
    say(f"verify: {len(offices) - len(problems)}/{len(offices)} snapshots match the sandbox")
    return not problems, rows
