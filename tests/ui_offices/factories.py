"""Factories for the office pages' tests (poll runs, clinics, aging snapshots and rows)."""

from __future__ import annotations

from decimal import Decimal

import factory
from django.utils import timezone

from integrations import models
from tests.factories import OfficeFactory


class ClinicFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Clinic

    office = factory.SubFactory(OfficeFactory)
    clinic_num = factory.Sequence(lambda n: n + 1)
    abbr = factory.Sequence(lambda n: f"C{n}")
    description = factory.Sequence(lambda n: f"Clinic number {n}")


class PollRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.PollRun

    office = factory.SubFactory(OfficeFactory)
    kind = models.PollKind.HEALTH
    outcome = models.RunOutcome.OK
    started_at = factory.LazyFunction(timezone.now)
    finished_at = factory.LazyFunction(timezone.now)


class AgingSnapshotFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.AgingSnapshot

    office = factory.SubFactory(OfficeFactory)
    source = models.SnapshotSource.SHORT_QUERY
    state = models.SnapshotState.COMPLETE
    as_of = factory.LazyFunction(timezone.localdate)
    completed_at = factory.LazyFunction(timezone.now)


def make_rows(snapshot: models.AgingSnapshot, n: int, *, clinics=(0,)) -> list[models.AgingRow]:
    """n guarantor rows with distinct balances; updates the snapshot totals to match."""
    rows = []
    for i in range(1, n + 1):
        b = [Decimal(i), Decimal(i * 2), Decimal(i * 3), Decimal(i * 4)]
        rows.append(
            models.AgingRow(
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
    models.AgingRow.objects.bulk_create(rows, batch_size=5000)
    for field in ("bal_0_30", "bal_31_60", "bal_61_90", "bal_over_90", "ins_est", "bal_total"):
        setattr(snapshot, field, sum(getattr(r, field) for r in rows))
    snapshot.guarantor_count = n
    snapshot.save()
    return rows


def make_current(office: models.Office, snapshot: models.AgingSnapshot) -> None:
    """Point the office at a snapshot, with the denormalised totals the list sorts on."""
    office.current_snapshot = snapshot
    for field, bucket in models.OFFICE_AGING_FIELDS.items():
        setattr(office, field, getattr(snapshot, bucket))
    office.save()


def bulk_offices(account: models.DeveloperAccount, n: int, **fields) -> list[models.Office]:
    """n offices created in one statement (for query-count and pagination tests)."""
    return models.Office.objects.bulk_create(
        [models.Office(account=account, name=f"Bulk office {i:05d}", **fields) for i in range(n)]
    )
