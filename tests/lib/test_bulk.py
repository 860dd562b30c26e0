"""bulk.rows_update writes what bulk_update (and save) would, whatever the field types."""

from __future__ import annotations

import threading
import time
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection, connections
from django.utils import timezone

from integrations.offices.models import AgingSnapshot, Office, SnapshotState
from odportal.lib import bulk
from tests.helpers import POSTGRES_ONLY


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


@pytest.mark.skipif(connection.vendor != "postgresql", reason=POSTGRES_ONLY)
@pytest.mark.django_db(transaction=True)
def test_rows_update_takes_its_locks_in_primary_key_order(office, account):
    """A writer waiting on the lowest row holds none of the higher ones: two multi-row writers
    then queue one behind the other instead of deadlocking (bench day saw the sweep's and a
    health batch's office writes deadlock)."""
    high = Office.objects.create(account=account, name="High", base_url=office.base_url)
    low = office
    assert low.pk < high.pk
    # Its new row version now lies after the high row's: a scan in physical order (as the
    # UPDATE's join may do) meets the high row first.
    Office.objects.filter(pk=low.pk).update(name="Low")
    started, done = threading.Event(), threading.Event()
    holder = connections.create_connection("default")
    try:
        holder.set_autocommit(False)
        with holder.cursor() as cursor:  # another transaction holds the low row
            cursor.execute("SELECT 1 FROM offices_office WHERE id = %s FOR UPDATE", [low.pk])

        def write() -> None:
            try:
                low.name, high.name = "Low 2", "High 2"
                started.set()
                bulk.rows_update([high, low], ["name"])  # high first, as a batch may list them
            finally:
                connection.close()
                done.set()

        writer = threading.Thread(target=write)
        writer.start()
        started.wait(5)
        time.sleep(0.5)  # the writer is now waiting for the low row
        assert not done.is_set()
        probe = connections.create_connection("default")
        try:
            with probe.cursor() as cursor:  # the high row is free: the writer took none yet
                cursor.execute(
                    "SELECT 1 FROM offices_office WHERE id = %s FOR UPDATE NOWAIT", [high.pk]
                )
            probe.rollback()
        finally:
            probe.close()
        holder.rollback()
        writer.join(10)
        assert done.is_set()
    finally:
        holder.close()
    assert set(Office.objects.filter(pk__in=[low.pk, high.pk]).values_list("name", flat=True)) == {
        "Low 2",
        "High 2",
    }
