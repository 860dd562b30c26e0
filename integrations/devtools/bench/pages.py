"""``bench pages``: server time of the dashboard's pages over a large fleet, and CSV export speed.

The data is seeded straight into the database (bulk inserts, COPY for the guarantor rows on
Postgres): a bench account whose owner is a bench user, N offices of varied statuses with a
current key and a current snapshot (denormalised ``aging_total`` / ``aging_over_90``), and one
"big" office whose current snapshot has G guarantors, clinics, a trend and recent runs. Requests
go through ``django.test.Client`` (``force_login``), so the whole middleware stack runs; each
page is warmed up, its queries are counted on one request (the debug cursor slows the queries
it records, so that request is not timed), then timed over many requests.
"""

from __future__ import annotations

import random
import statistics
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import OuterRef, Subquery
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from integrations.accounts.models import DeveloperAccount, Membership, Role
from integrations.devtools.bench import common
from integrations.offices.models import (
    AGING_BUCKETS,
    OFFICE_AGING_FIELDS,
    AgingRow,
    AgingSnapshot,
    Clinic,
    CustomerKey,
    Office,
    OfficeStatus,
    PollKind,
    PollRun,
    RunOutcome,
    SnapshotState,
)
from integrations.offices.selectors import aging as aging_selectors
from integrations.offices.services.aging import snapshots
from odportal.lib import crypto

BENCH_COMPANY = "odportal bench pages"
BENCH_USER = "odportal-bench-pages"
BIG_OFFICE = "Bench big office"
BUCKETS = AGING_BUCKETS[:-1]  # bal_total is their sum
# Most offices are healthy; the rest spread over every problem (weights out of 100).
STATUS_WEIGHTS = {
    OfficeStatus.OK: 80, OfficeStatus.NEVER_POLLED: 3, OfficeStatus.KEY_REJECTED: 2,
    OfficeStatus.KEY_DISABLED: 2, OfficeStatus.PERMISSION_MISSING: 3,
    OfficeStatus.ECONNECTOR_DOWN: 4, OfficeStatus.THROTTLED: 1, OfficeStatus.TIMED_OUT: 2,
    OfficeStatus.OD_ERROR: 2, OfficeStatus.UNREACHABLE: 1,
}  # fmt: skip
TREND_SNAPSHOTS = 29  # plus the current one: the trend chart's 30
CLINICS = (0, 1, 2, 3)


@dataclass
class PagesOptions:
    offices: int
    guarantors: int
    requests: int = 40
    warmup: int = 5
    csv_repeat: int = 3
    keep: bool = False
    seed: int = 42


def pages_run(options: PagesOptions, say: common.Say) -> dict[str, Any]:
    """Seed, measure every page and the CSV export; returns the figures."""
    try:
        started = time.monotonic()
        user, big = pages_seed(options, say)
        seed_s = time.monotonic() - started
        client = Client()
        client.force_login(user)
        pages = {
            name: _measure_page(client, url, options, say)
            for name, url in _page_urls(big, options.guarantors).items()
        }
        csv = _measure_csv(client, big, options, say)
        client.logout()
    finally:
        if not options.keep:
            pages_cleanup(say)
    verified = all(p["status"] == 200 for p in pages.values()) and csv["rows"] == options.guarantors
    return {
        "offices": options.offices,
        "guarantors": options.guarantors,
        "requests_per_page": options.requests,
        "seed_s": round(seed_s, 1),
        "pages": pages,
        "csv": csv,
        "csv_rows_per_s": csv["rows_per_s"],
        "verified": verified,
    }


def _page_urls(big: Office, guarantors: int) -> dict[str, str]:
    offices = reverse("office_list")
    aging_url = reverse("office_aging", args=[big.public_id])
    over90 = f"{aging_url}?sort=bal_over_90&dir=desc"
    deep = max(2, (guarantors // 100) * 9 // 10)  # 90% of the way down, 100 rows a page
    return {
        "overview": reverse("overview"),
        "office_list": offices,
        "office_list_search": f"{offices}?q=77",
        "office_list_over90": f"{offices}?sort=over90&dir=desc",
        "office_list_status": f"{offices}?status={OfficeStatus.ECONNECTOR_DOWN}",
        "office_list_attention": f"{offices}?status=attention",
        "office_detail": reverse("office_detail", args=[big.public_id]),
        "aging_over90": over90,
        "aging_deep_page": f"{over90}&{_deep_cursor(big, deep)}",
        "aging_deep_page_bookmark": f"{over90}&page={deep}",
        "aging_clinic": f"{aging_url}?clinic=2",
    }


def _deep_cursor(big: Office, page: int) -> str:
    """The query string of the Next link that leads to ``page`` (what a reader clicks)."""
    snapshot = AgingSnapshot.objects.get(pk=big.current_snapshot_id)
    rows = aging_selectors.aging_rows(snapshot, clinic=None, sort="bal_over_90", desc=True)
    last_before = rows[(page - 1) * 100 - 1]
    after = aging_selectors.aging_cursor_of(last_before, "bal_over_90").encode()
    return urlencode({"page": page, "after": after})


# --- measuring ---------------------------------------------------------------------------------


def _get(client: Client, url: str) -> int:
    response = client.get(url, secure=True)  # production sits behind TLS (SECURE_SSL_REDIRECT)
    if response.streaming:
        for _ in response.streaming_content:
            pass
    response.close()
    return response.status_code


def _measure_page(client: Client, url: str, options: PagesOptions, say: common.Say) -> dict:
    for _ in range(options.warmup):
        _get(client, url)
    with CaptureQueriesContext(connection) as queries:
        status = _get(client, url)
    count = len(queries)  # now: the next request's request_started signal clears the log
    times = []
    for _ in range(options.requests):
        started = time.perf_counter()
        status = max(status, _get(client, url))
        times.append((time.perf_counter() - started) * 1000)
    figures = {
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(common.percentile(times, 0.95), 1),
        "queries": count,
        "status": status,
    }
    say(f"page {url}: p50 {figures['p50_ms']} ms, p95 {figures['p95_ms']} ms, "
        f"{figures['queries']} queries, HTTP {status}")  # fmt: skip
    return figures


def _measure_csv(client: Client, big: Office, options: PagesOptions, say: common.Say) -> dict:
    """Stream the whole export a few times; the best round counts (as in ``bench ingest``)."""
    url = reverse("office_aging_csv", args=[big.public_id])
    best, rows, count = float("inf"), 0, 0
    for attempt in range(options.csv_repeat):
        with CaptureQueriesContext(connection) as queries:  # only the first round is counted
            started = time.perf_counter()
            response = client.get(url, secure=True)
            lines = sum(chunk.count(b"\n") for chunk in response.streaming_content)
            response.close()
            elapsed = time.perf_counter() - started
            count = count or len(queries)
        best, rows = min(best, elapsed), lines - 1
        if response.status_code != 200:
            rows = -1
        say(f"csv round {attempt + 1}: {rows} rows in {elapsed:.3f}s")
    return {
        "rows": rows,
        "best_s": round(best, 3),
        "rows_per_s": round(rows / best) if rows > 0 else 0,
        "queries": count,
    }


# --- seeding -----------------------------------------------------------------------------------


def pages_seed(options: PagesOptions, say: common.Say) -> tuple[Any, Office]:
    pages_cleanup(say)
    rng = random.Random(options.seed)
    with transaction.atomic():
        user, account = _account()
        offices = _offices(account, options.offices, rng)
        _keys(offices)
        _snapshots(account, offices, rng)
    say(f"database: {len(offices)} offices with keys and current snapshots")
    started = time.monotonic()
    big = _big_office(account, offices[0], options.guarantors, rng)
    say(f"database: {options.guarantors} guarantors for {BIG_OFFICE} "
        f"in {time.monotonic() - started:.1f}s")  # fmt: skip
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            tables = [m._meta.db_table for m in (Office, CustomerKey, AgingSnapshot, AgingRow)]
            # What autovacuum does soon after a bulk load: statistics and the visibility map
            # (VACUUM cannot run inside a transaction, as under a test).
            verb = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
            cursor.execute(f"{verb} {', '.join(tables)}")
    return user, big


def _account() -> tuple[Any, DeveloperAccount]:
    user, _ = get_user_model().objects.get_or_create(username=BENCH_USER)
    account = DeveloperAccount.objects.create(
        company_name=BENCH_COMPANY, contact_phone="+1 555 0100", billing_email="bench@example.com",
        billing_address="1 Bench Way", app_description="Benchmark", dev_name="Bench",
    )  # fmt: skip
    Membership.objects.create(account=account, user=user, role=Role.OWNER)
    return user, account


def _offices(account: DeveloperAccount, n: int, rng: random.Random) -> list[Office]:
    now = timezone.now()
    statuses = rng.choices(list(STATUS_WEIGHTS), weights=list(STATUS_WEIGHTS.values()), k=n)
    offices = []
    for i, status in enumerate(statuses):
        polled = status != OfficeStatus.NEVER_POLLED
        # One healthy office in twenty has not succeeded for a while: stale data.
        success_age = timedelta(hours=rng.randint(1, 48) if i % 20 == 7 else 0, minutes=2)
        offices.append(
            Office(
                account=account,
                name=BIG_OFFICE if i == 0 else f"Bench office {i:05d}",
                reference=f"ref-{i:05d}",
                time_zone="America/New_York",
                status=OfficeStatus.OK if i == 0 else status,
                status_since=now - timedelta(minutes=rng.randint(1, 10_000)) if polled else None,
                last_polled_at=now - timedelta(minutes=2) if polled else None,
                last_success_at=now - success_age if polled else None,
                last_error="" if status == OfficeStatus.OK else f"{status}: simulated",
                latency_ms=rng.randint(40, 900) if polled else None,
                granted_permissions=["Patients", "Queries", "Reports"] if polled else [],
                missing_permissions=["Queries"] if status == "permission_missing" else [],
                program_version="24.3.1.0" if polled else "",
            )
        )
    return Office.objects.bulk_create(offices, batch_size=2000)


def _keys(offices: list[Office]) -> None:
    keys = []
    for office in offices:
        plaintext = uuid.uuid4().hex[:16]
        keys.append(
            CustomerKey(
                office=office,
                key_encrypted=crypto.encrypt(plaintext),
                last4=plaintext[-4:],
                key_hash=crypto.key_hash(plaintext),
                is_current=True,
            )  # fmt: skip
        )
    CustomerKey.objects.bulk_create(keys, batch_size=2000)


def _money(rng: random.Random, top_cents: int) -> Decimal:
    return Decimal(rng.randint(0, top_cents)) / 100


def _snapshots(account: DeveloperAccount, offices: list[Office], rng: random.Random) -> None:
    """A current complete snapshot for every polled office, denormalised onto the office."""
    now, today = timezone.now(), timezone.localdate()
    snaps = []
    for office in offices[1:]:  # the big office gets its own, with rows
        if office.status == OfficeStatus.NEVER_POLLED:
            continue
        buckets = {b: _money(rng, 5_000_000) for b in BUCKETS}
        total = sum(v for b, v in buckets.items() if b != "ins_est")
        snaps.append(
            AgingSnapshot(
                office=office,
                source="short_query",
                state=SnapshotState.COMPLETE,
                as_of=today,
                fetched_at=now - timedelta(hours=2),
                completed_at=now - timedelta(hours=2),
                guarantor_count=rng.randint(50, 5000),
                bal_total=total,
                **buckets,
            )  # fmt: skip
        )
    AgingSnapshot.objects.bulk_create(snaps, batch_size=2000)
    _make_current(Office.objects.filter(account=account))


def _make_current(offices) -> None:
    """Each office's newest complete regular snapshot becomes current (one UPDATE)."""
    newest = AgingSnapshot.objects.filter(
        office=OuterRef("pk"), state=SnapshotState.COMPLETE, is_as_of_request=False
    ).order_by("-fetched_at")
    with_snapshot = AgingSnapshot.objects.filter(office__in=offices).values("office_id")
    offices.filter(pk__in=with_snapshot).update(
        current_snapshot=Subquery(newest.values("pk")[:1]),
        **{f: Subquery(newest.values(b)[:1]) for f, b in OFFICE_AGING_FIELDS.items()},
    )


def _big_office(
    account: DeveloperAccount, office: Office, guarantors: int, rng: random.Random
) -> Office:
    """G guarantors in the current snapshot, plus clinics, a trend, as-of requests and runs."""
    now, today = timezone.now(), timezone.localdate()
    Clinic.objects.bulk_create(
        [Clinic(office=office, clinic_num=c, abbr=f"C{c}") for c in CLINICS if c]
    )
    _runs(office, now)
    trend = [
        AgingSnapshot(
            office=office,
            source="short_query",
            state=SnapshotState.COMPLETE,
            as_of=today - timedelta(days=d),
            fetched_at=now - timedelta(days=d),
            completed_at=now - timedelta(days=d),
            guarantor_count=guarantors,
            bal_total=_money(rng, 10**9),
            bal_over_90=_money(rng, 10**8),
        )  # fmt: skip
        for d in range(TREND_SNAPSHOTS, 0, -1)
    ]
    as_of = [
        AgingSnapshot(
            office=office,
            source="reports_aging_as_of",
            state=SnapshotState.COMPLETE,
            as_of=today - timedelta(days=30 * m),
            is_as_of_request=True,
            fetched_at=now - timedelta(days=m),
            bal_total=_money(rng, 10**9),
        )  # fmt: skip
        for m in range(1, 4)
    ]
    AgingSnapshot.objects.bulk_create(trend + as_of)
    current = AgingSnapshot.objects.create(
        office=office, source="short_query", state=SnapshotState.COMPLETE, as_of=today,
        fetched_at=now - timedelta(hours=1), completed_at=now - timedelta(hours=1),
    )  # fmt: skip
    totals, per_clinic = _rows_insert(current.pk, guarantors, rng)
    AgingSnapshot.objects.filter(pk=current.pk).update(
        guarantor_count=guarantors, clinic_totals=per_clinic, **totals
    )
    _make_current(Office.objects.filter(pk=office.pk))
    return Office.objects.get(pk=office.pk)


def _runs(office: Office, now) -> None:
    runs = [
        PollRun(
            office=office,
            kind=PollKind.HEALTH if i % 5 else PollKind.AGING,
            outcome=RunOutcome.OK if i % 7 else RunOutcome.FAILED,
            queued_at=now - timedelta(minutes=5 * i),
            started_at=now - timedelta(minutes=5 * i),
            finished_at=now - timedelta(minutes=5 * i - 1),
            requests=4,
            rows=0,
            error="" if i % 7 else "eConnector down (simulated)",
        )  # fmt: skip
        for i in range(1, 25)
    ]
    PollRun.objects.bulk_create(runs)


def _rows_insert(snapshot_id: int, n: int, rng: random.Random) -> tuple[dict, dict]:
    """n guarantor rows (COPY on Postgres); returns the snapshot totals and clinic totals.

    Each record is in ``snapshots.ROW_FIELDS`` order, money in cents.
    """
    fields = ("est_balance", *BUCKETS, "bal_total")
    totals = {f: 0 for f in fields}
    per_clinic = {str(c): {"guarantors": 0, **{f: 0 for f in fields}} for c in CLINICS}
    records = []
    for pat_num in range(1, n + 1):
        cents = [rng.randint(0, 40_000) if rng.random() < 0.6 else 0 for _ in range(4)]
        ins = rng.randint(0, 20_000) if rng.random() < 0.3 else 0
        total = sum(cents)
        values = (total - ins, *cents, ins, total)  # est_balance, buckets, ins_est, bal_total
        clinic = CLINICS[pat_num % len(CLINICS)]
        records.append((pat_num, clinic, f"Guarantor{pat_num}, Pat", *values))
        per_clinic[str(clinic)]["guarantors"] += 1
        for f, v in zip(fields, values, strict=True):
            totals[f] += v
            per_clinic[str(clinic)][f] += v
    _rows_write(snapshot_id, records)
    money = {f: Decimal(v) / 100 for f, v in totals.items() if f != "est_balance"}
    clinics = {
        c: {k: (str(v) if k == "guarantors" else str(Decimal(v) / 100)) for k, v in t.items()}
        for c, t in per_clinic.items()
        if t["guarantors"]
    }
    return money, clinics


def _rows_write(snapshot_id: int, records: list[tuple]) -> None:
    columns = ("snapshot_id", *snapshots.ROW_FIELDS)
    if connection.vendor != "postgresql":
        rows = [
            AgingRow(snapshot_id=snapshot_id, **dict(zip(columns[1:], _decimals(r), strict=True)))
            for r in records
        ]
        AgingRow.objects.bulk_create(rows, batch_size=2000)
        return
    sql = f"COPY {AgingRow._meta.db_table} ({', '.join(columns)}) FROM STDIN"
    with transaction.atomic(), connection.cursor() as cursor, cursor.copy(sql) as copy:
        for record in records:
            copy.write_row((snapshot_id, *_decimals(record)))


def _decimals(record: tuple) -> tuple:
    pat_num, clinic, name, *cents = record
    return (pat_num, clinic, name, *(Decimal(c) / 100 for c in cents))


# --- cleanup -----------------------------------------------------------------------------------


def pages_cleanup(say: common.Say) -> None:
    """Remove the bench account, its offices and rows, and the bench user (this run's or older)."""
    for account in DeveloperAccount.objects.filter(company_name=BENCH_COMPANY):
        with transaction.atomic():
            offices = Office.objects.filter(account=account)
            n = offices.count()
            offices.update(current_snapshot=None)
            ids = offices.values("pk")
            snapshots = AgingSnapshot.objects.filter(office_id__in=ids)
            AgingRow.objects.filter(snapshot__in=snapshots.values("pk"))._raw_delete(
                connection.alias
            )
            for model in (AgingSnapshot, PollRun, Clinic, CustomerKey):
                model.objects.filter(office_id__in=ids)._raw_delete(connection.alias)
            offices._raw_delete(connection.alias)
            account.delete()
        say(f"database: removed the bench account ({n} offices)")
    get_user_model().objects.filter(username=BENCH_USER).delete()
