"""bulk.rows_update writes what bulk_update (and save) would, whatever the field types."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.utils import timezone

from integrations.offices.models import AgingSnapshot, Office, SnapshotState
from odportal.lib import bulk


def test_rows_update_writes_each_objects_own_values(office, account):
    other = Office.objects.create(account=account, name="Other", base_url=office.base_url)
    snaps = [
        AgingSnapshot.objects.create(office=o, source="short_query", as_of=date.today())
        for o in (office, other)
    ]
    now = timezone.now()
    for i, snap in enumerate(snaps):
        snap.guarantor_count = 10 + i
        snap.bal_total = Decimal("1234.56") * (i + 1)
        snap.clinic_totals = {"0": {"guarantors": str(i), "name": 'O\'Brien "quoted"'}}
        snap.state = SnapshotState.COMPLETE
        snap.completed_at = now - timedelta(minutes=i)
    bulk.rows_update(
        snaps, ["guarantor_count", "bal_total", "clinic_totals", "state", "completed_at"]
    )
    for i, snap in enumerate(snaps):
        stored = AgingSnapshot.objects.get(pk=snap.pk)
        assert stored.guarantor_count == 10 + i
        assert stored.bal_total == Decimal("1234.56") * (i + 1)
        assert stored.clinic_totals == snap.clinic_totals
        assert stored.state == SnapshotState.COMPLETE
        assert stored.completed_at == now - timedelta(minutes=i)
    # A foreign key, a nullable value set to NULL, and the objects of one model only.
    office.current_snapshot, other.current_snapshot = snaps
    office.next_aging_at, other.next_aging_at = now, None
    names = office.name, other.name
    office.name = other.name = "Changed in memory only"
    bulk.rows_update([office, other], ["current_snapshot", "next_aging_at"])
    office.refresh_from_db()
    other.refresh_from_db()
    assert (office.current_snapshot, office.next_aging_at) == (snaps[0], now)
    assert (other.current_snapshot, other.next_aging_at) == (snaps[1], None)
    assert (office.name, other.name) == names  # fields not named are not written
