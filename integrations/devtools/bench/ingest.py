"""``bench ingest``: ShortQuery pages into snapshot rows by the real code path, against COPY.

The pages are what the client returns: the sandbox's own ShortQuery answer for the aging SQL,
encoded to JSON page by page and decoded by the client's parser (``QueryRow``s, money as
Decimal). The real path is ``rows_from_query`` per page of 100 as it arrives, and
``snapshot_rows_ingest`` per batch of ``INGEST_BATCH_ROWS`` in one transaction each, as a
worker does. The baseline is one plain
``COPY`` of the same rows, in one transaction, into a scratch table of the same shape (``LIKE
offices_agingrow INCLUDING ALL``: same indexes and constraints), so the ratio is the price
of the real path's work.
"""

from __future__ import annotations

import json
import os
import time
from datetime import date
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction

from integrations.accounts.models import DeveloperAccount
from integrations.accounts.services import accounts
from integrations.devtools.bench import common
from integrations.offices.models import AgingRow, AgingSnapshot, Office, PollRun
from integrations.offices.services import offices
from integrations.offices.services.aging import recipe, snapshots
from integrations.offices.services.polling import dispatch
from integrations.opendental import parsing
from odsandbox.config import OfficeSpec, SandboxConfig
from odsandbox.state import SandboxState

BENCH_COMPANY = "odportal bench ingest"
PAGE = 100


def ingest_run(rows: int, say: common.Say, repeat: int = 3) -> dict[str, Any]:
    """Time the real ingest path and (on Postgres) a plain COPY of the same rows; best of n."""
    pages = client_pages(rows, say)
    total = sum(len(p) for p in pages)
    postgres = connection.vendor == "postgresql"
    real_s, copy_s = [], []
    try:
        account = _scratch_account()
        for attempt in range(1, repeat + 1):
            if postgres:
                copy_s.append(_copy_seconds(pages, _scratch_snapshot(account, attempt).pk))
            snapshot = _scratch_snapshot(account, attempt)
            real_s.append(_real_seconds(pages, snapshot))
            stored = AgingRow.objects.filter(snapshot=snapshot).count()
            if stored != total:
                raise RuntimeError(f"stored {stored} rows of {total}")
            copied = f", COPY {copy_s[-1]:.3f}s" if postgres else ""
            say(f"round {attempt}: real path {real_s[-1]:.3f}s{copied} ({total} rows)")
    finally:
        ingest_cleanup()
    rate = total / min(real_s)
    copy_rate = total / min(copy_s) if copy_s else None
    if copy_rate is None:
        say(f"COPY baseline: not measured on {connection.vendor} (needs Postgres: DATABASE_URL)")
    return {
        "rows": total,
        "rows_per_s": round(rate),
        "copy_rows_per_s": round(copy_rate) if copy_rate else None,
        "ratio": round(rate / copy_rate, 3) if copy_rate else None,
        **({} if copy_rate else {"note": f"COPY baseline needs Postgres, not {connection.vendor}"}),
    }


def client_pages(rows: int, say: common.Say) -> list[list[recipe.QueryRow]]:
    """``rows`` guarantors' ShortQuery rows as the client returns them, in pages of 100."""
    started = time.monotonic()
    data_dir = Path(settings.VAR_DIR) / "bench-ingest"
    spec = OfficeSpec(name="Ingest Office", guarantors=rows, clinics=3)
    state = SandboxState(SandboxConfig(office_specs=[spec], data_dir=str(data_dir)))
    try:
        raw = state.offices[0].store.short_query(recipe.AGING_SQL, 0, rows, 600.0)
    finally:
        state.close()
    # The wire format, page by page, and the client's own parser.
    wire = [json.dumps(raw[i : i + PAGE]).encode() for i in range(0, len(raw), PAGE)]
    check = recipe.QueryRow.matches_wire
    pages = [parsing.loads_typed(page, list[recipe.QueryRow], check) for page in wire]
    say(f"pages: {len(raw)} rows from the sandbox in {time.monotonic() - started:.1f}s")
    return pages


def _real_seconds(pages: list[list[recipe.QueryRow]], snapshot: AgingSnapshot) -> float:
    started = time.perf_counter()
    batch: list[snapshots.Row] = []
    for number, page in enumerate(pages, start=1):
        batch.extend(recipe.rows_from_query(page))
        if len(batch) >= settings.INGEST_BATCH_ROWS or number == len(pages):
            with transaction.atomic():
                snapshots.snapshot_rows_ingest(snapshot, batch)
            batch = []
    return time.perf_counter() - started


def _copy_seconds(pages: list[list[recipe.QueryRow]], snapshot_id: int) -> float:
    """One COPY of the same rows (already parsed) into a same-shaped scratch table."""
    table = f"bench_copy_{os.getpid()}"
    columns = ("snapshot_id", *snapshots.ROW_FIELDS)
    records = [(snapshot_id, *row) for page in pages for row in recipe.rows_from_query(page)]
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {table}")
        cursor.execute(f"CREATE TABLE {table} (LIKE {AgingRow._meta.db_table} INCLUDING ALL)")
    try:
        started = time.perf_counter()
        sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        with transaction.atomic(), connection.cursor() as cursor, cursor.copy(sql) as copy:
            for record in records:
                copy.write_row(record)
        return time.perf_counter() - started
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {table}")


def _scratch_account() -> DeveloperAccount:
    ingest_cleanup()
    user, _ = get_user_model().objects.get_or_create(username="odportal-bench")
    return accounts.developer_account_create(
        actor=user, company_name=BENCH_COMPANY, contact_phone="+1 555 0100",
        billing_email="bench@example.com", billing_address="1 Bench Way",
        app_description="Benchmark", dev_name="Bench",
    )  # fmt: skip


def _scratch_snapshot(account: DeveloperAccount, attempt: int) -> AgingSnapshot:
    """A building snapshot of a fresh scratch office, made through the services."""
    office = offices.office_create(
        account=account, actor=None, name=f"Ingest {attempt}", time_zone="UTC"
    )
    run, _ = dispatch.poll_enqueue(office=office, kind="aging", send=False)
    snapshot, _ = snapshots.snapshot_open(run=run, source="short_query", as_of=date.today())
    return snapshot


def ingest_cleanup() -> None:
    """Remove the scratch account of this (or an interrupted earlier) benchmark."""
    for account in DeveloperAccount.objects.filter(company_name=BENCH_COMPANY):
        ids = list(account.offices.values_list("pk", flat=True))
        AgingRow.objects.filter(snapshot__office_id__in=ids)._raw_delete(connection.alias)
        PollRun.objects.filter(office_id__in=ids).delete()
        Office.objects.filter(pk__in=ids).delete()
        account.delete()
