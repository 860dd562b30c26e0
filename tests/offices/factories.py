"""Factories for the office pages' tests (poll runs, clinics, aging snapshots and rows)."""

from __future__ import annotations

from decimal import Decimal

import factory
from django.utils import timezone

from integrations.accounts.models import DeveloperAccount
from integrations.offices.models import (
    OFFICE_AGING_FIELDS,
    AgingRow,
    AgingSnapshot,
    Clinic,
    Office,
    PollKind,
    PollRun,
    RunOutcome,
    SnapshotSource,
    SnapshotState,
)
from tests.factories import OfficeFactory


class ClinicFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Clinic

    office = factory.SubFactory(OfficeFactory)
    clinic_num = factory.Sequence(lambda n: n + 1)
    abbr = factory.Sequence(lambda n: f"C{n}")
    description = factory.Sequence(lambda n: f"Clinic number {n}")


class PollRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PollRun

    office = factory.SubFactory(OfficeFactory)
    kind = PollKind.HEALTH
    outcome = RunOutcome.OK
    started_at = factory.LazyFunction(timezone.now)
    finished_at = factory.LazyFunction(timezone.now)


class AgingSnapshotFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AgingSnapshot

    office = factory.SubFactory(OfficeFactory)
    source = SnapshotSource.SHORT_QUERY
    state = SnapshotState.COMPLETE
    as_of = factory.LazyFunction(timezone.localdate)
    completed_at = factory.LazyFunction(timezone.now)


def make_rows(snapshot: AgingSnapshot, n: int, *, clinics=(0,)) -> list[AgingRow]:
    """n guarantor rows with distinct balances; updates the snapshot totals to match."""
    rows = []
    for i in range(1, n + 1):
        b = [Decimal(i), Decimal(i * 2), Decimal(i * 3), Decimal(i * 4)]
        rows.append(
            AgingRow(
                snapshot=snapshot,
                pat_num=1000 + i,
                clinic_num=clinics[i % len(clinics)],
                name=f"Guarantor {i:05d}",
                bal_0_30=b[0],
                bal_31_60=b[1],
                bal_61_90=b[2],
                bal_over_90=b[3],
                ins_est=Decimal("0.50"),
                est_balance=sum(b),
                bal_total=sum(b),
            )
        )
    AgingRow.objects.bulk_create(rows, batch_size=5000)
    for field in ("bal_0_30", "bal_31_60", "bal_61_90", "bal_over_90", "ins_est", "bal_total"):
        setattr(snapshot, field, sum(getattr(r, field) for r in rows))
    snapshot.guarantor_count = n
    snapshot.save()
    return rows


def make_current(office: Office, snapshot: AgingSnapshot) -> None:
    """Point the office at a snapshot, with the denormalised totals the list sorts on."""
    office.current_snapshot = snapshot
    for field, bucket in OFFICE_AGING_FIELDS.items():
        setattr(office, field, getattr(snapshot, bucket))
    office.save()


def bulk_offices(account: DeveloperAccount, n: int, **fields) -> list[Office]:
    """n offices created in one statement (for query-count and pagination tests)."""
    return Office.objects.bulk_create(
        [Office(account=account, name=f"Bulk office {i:05d}", **fields) for i in range(n)]
    )
