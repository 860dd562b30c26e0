"""Rows written by the ingest path (COPY text formatted by us on Postgres) read back exactly."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.db import connection
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from integrations.offices.models import AgingRow, AgingSnapshot
from integrations.offices.services.aging import snapshots

money = st.decimals(
    min_value=Decimal("-999999999999.99"), max_value=Decimal("999999999999.99"), places=2,
    allow_nan=False, allow_infinity=False,
)  # fmt: skip
names = st.text(st.characters(exclude_categories=["Cs"]), max_size=60)
rows = st.lists(
    st.tuples(st.integers(0, 2**63 - 1), st.integers(0, 2**31), names, *[money] * 7),
    max_size=20,
    unique_by=lambda r: r[0],
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batch=rows, other=rows)
@example(
    batch=[(1, 0, "O\\'Brien\tTab\nNew\rLine \\N", *[Decimal("-0.00")] * 7)],
    other=[(2, 3, "\x00nul", *[Decimal("1E+3")] * 7)],
)
def test_ingested_rows_read_back_exactly(office, batch, other):
    first = AgingSnapshot.objects.create(office=office, source="short_query", as_of=date.today())
    second = AgingSnapshot.objects.create(office=office, source="short_query", as_of=date.today())
    try:
        written = snapshots.snapshots_rows_ingest(
            {
                first.pk: [snapshots.Row(*r) for r in batch],
                second.pk: [snapshots.Row(*r) for r in other],
            }
        )
        assert written == len(batch) + len(other)
        for snapshot, wanted in ((first, batch), (second, other)):
            stored = AgingRow.objects.filter(snapshot=snapshot).order_by("pat_num")
            got = [tuple(getattr(row, f) for f in snapshots.ROW_FIELDS) for row in stored]
            # Postgres text cannot hold NUL: COPY drops it (SQLite keeps it).
            nul = "" if connection.vendor == "postgresql" else "\x00"
            expected = sorted((r[0], r[1], r[2].replace("\x00", nul), *r[3:]) for r in wanted)
            assert got == expected
    finally:
        AgingRow.objects.filter(snapshot__in=[first, second]).delete()
        first.delete()
        second.delete()
