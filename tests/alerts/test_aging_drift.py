"""Aging drift: an optional rule per account ("90+ grew by more than X% since last week"),
from the snapshots already kept, opens an incident per office with that cause."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from integrations.alerts.models import AlertSettings, Incident, IncidentSource, OtherCause
from integrations.alerts.selectors import incident_groups
from integrations.alerts.services import channels
from integrations.offices.models import SnapshotState
from tests.alerts.test_notifications import cycle
from tests.factories import AgingSnapshotFactory, OfficeFactory, make_current

NOW = datetime(2026, 3, 4, 17, 0, tzinfo=UTC)


def _aging(office, *, week_ago: str, now: str, **week_kwargs) -> None:
    """A snapshot of 8 days ago and a current one, with these 90+ balances."""
    AgingSnapshotFactory(office=office, bal_over_90=Decimal(week_ago),
                         fetched_at=NOW - timedelta(days=8), **week_kwargs)  # fmt: skip
    current = AgingSnapshotFactory(office=office, bal_over_90=Decimal(now), fetched_at=NOW)
    make_current(office, current)


@pytest.fixture
def rule(account):
    return AlertSettings.objects.create(account=account, aging_drift_pct=20)


def test_growth_past_the_rule_opens_one_incident_per_office(rule, account, owner, smtp):
    channels.channel_create(account=account, actor=owner, kind="email", name="Billing",
                            target="billing@vendor.example")  # fmt: skip
    grew = OfficeFactory(account=account)
    _aging(grew, week_ago="1000.00", now="1250.00")  # +25 %
    steady = OfficeFactory(account=account)
    _aging(steady, week_ago="1000.00", now="1150.00")  # +15 %
    edge = OfficeFactory(account=account)
    _aging(edge, week_ago="1000.00", now="1200.00")  # exactly 20 %: not more than
    cycle(NOW)
    cycle(NOW + timedelta(minutes=1))
    incident = Incident.objects.get()
    assert (incident.office, incident.source, incident.cause) == (
        grew,
        IncidentSource.AGING_DRIFT,
        OtherCause.AGING_DRIFT,
    )
    assert incident.detail == ("90+ bucket 1,250.00, up 25% from 1,000.00 a week ago (rule: 20%)")
    assert [g.label for g in incident_groups(owner, now=NOW)] == ["Aging drift"]
    assert len(smtp.messages) == 1
    assert smtp.messages[0]["Subject"] == f"[odportal] Aging drift: {grew.name}"
    assert "up 25% from 1,000.00" in smtp.messages[0].get_payload()


def test_it_resolves_once_the_bucket_is_back_within_the_rule(rule, account):
    office = OfficeFactory(account=account)
    _aging(office, week_ago="1000.00", now="1500.00")
    cycle(NOW)
    lower = AgingSnapshotFactory(office=office, bal_over_90=Decimal("1100.00"),
                                 fetched_at=NOW + timedelta(hours=1))  # fmt: skip
    make_current(office, lower)
    cycle(NOW + timedelta(hours=1))
    assert Incident.objects.get().resolved_at == NOW + timedelta(hours=1)


def test_without_the_rule_or_a_snapshot_of_a_week_ago_nothing_opens(account):
    office = OfficeFactory(account=account)
    _aging(office, week_ago="1000.00", now="9000.00")
    cycle(NOW)  # no rule
    assert not Incident.objects.exists()
    AlertSettings.objects.create(account=account, aging_drift_pct=20)
    young = OfficeFactory(account=account)
    current = AgingSnapshotFactory(office=young, bal_over_90=Decimal("9000.00"), fetched_at=NOW)
    make_current(young, current)
    zero = OfficeFactory(account=account)
    _aging(zero, week_ago="0.00", now="50.00")  # nothing to grow from: no percentage
    failed = OfficeFactory(account=account)
    _aging(failed, week_ago="10.00", now="5000.00", state=SnapshotState.FAILED)
    cycle(NOW + timedelta(minutes=1))
    assert list(Incident.objects.values_list("office_id", flat=True)) == [office.pk]


def test_the_rule_of_one_account_never_applies_to_another(rule):
    other = OfficeFactory()
    _aging(other, week_ago="1000.00", now="9000.00")
    cycle(NOW)
    assert not Incident.objects.exists()
