"""Incidents from office health: the grace, one per office, resolution, what is never one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext

from integrations.alerts.models import AlertSettings, Incident, Resolution
from integrations.alerts.services.incidents import incidents_evaluate
from integrations.offices.models import KeyStatus, Office, OfficeStatus
from tests.factories import CustomerKeyFactory, OfficeFactory

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def test_one_failed_poll_is_within_the_grace(failing):
    failing(failures=1)
    assert incidents_evaluate(now=NOW)["opened"] == 0
    assert not Incident.objects.exists()


def test_two_failed_polls_open_one_incident_with_cause_and_count(failing):
    office = failing(failures=2, status_since=NOW - timedelta(minutes=10))
    assert incidents_evaluate(now=NOW)["opened"] == 1
    incident = Incident.objects.get()
    assert (incident.office, incident.cause, incident.count) == (office, "econnector_down", 2)
    assert incident.first_seen == NOW - timedelta(minutes=10) and incident.opened_at == NOW
    assert incidents_evaluate(now=NOW + timedelta(minutes=5))["opened"] == 0
    assert Incident.objects.count() == 1


def test_the_grace_is_per_account(failing, account):
    AlertSettings.objects.create(account=account, grace_polls=3)
    office = failing(failures=2)
    incidents_evaluate(now=NOW)
    assert not Incident.objects.exists()
    Office.objects.filter(pk=office.pk).update(consecutive_failures=3)
    incidents_evaluate(now=NOW)
    assert Incident.objects.filter(office=office).exists()


def test_a_second_fault_while_open_updates_the_same_incident(failing):
    office = failing(failures=2)
    incidents_evaluate(now=NOW)
    Office.objects.filter(pk=office.pk).update(
        status=OfficeStatus.TIMED_OUT, consecutive_failures=3
    )
    incidents_evaluate(now=NOW + timedelta(minutes=5))
    incident = Incident.objects.get()
    assert (incident.cause, incident.count, incident.resolved_at) == ("timed_out", 3, None)


def test_a_steady_sweep_rewrites_no_incident_and_a_change_rewrites_its_own(failing):
    polled = NOW - timedelta(minutes=1)
    first, second = failing(last_polled_at=polled), failing(last_polled_at=polled)
    incidents_evaluate(now=NOW)
    assert incidents_evaluate(now=NOW)["updated"] == 0  # nothing changed: no row written
    Office.objects.filter(pk=second.pk).update(consecutive_failures=3, last_polled_at=NOW)
    assert incidents_evaluate(now=NOW)["updated"] == 1
    assert Incident.objects.get(office=second).count == 3
    assert Incident.objects.get(office=first).count == 2


def test_ok_again_resolves_with_its_duration(failing):
    office = failing(failures=2, status_since=NOW - timedelta(minutes=5))
    incidents_evaluate(now=NOW)
    Office.objects.filter(pk=office.pk).update(status=OfficeStatus.OK, consecutive_failures=0)
    assert incidents_evaluate(now=NOW + timedelta(minutes=40))["resolved"] == 1
    incident = Incident.objects.get()
    assert incident.resolution == Resolution.OK and incident.duration_minutes == 45


def test_polling_off_or_a_key_the_vendor_disabled_is_no_incident(failing):
    off = failing(failures=5)
    Office.objects.filter(pk=off.pk).update(polling_enabled=False)
    disabled = OfficeFactory(account=off.account, status=OfficeStatus.KEY_DISABLED,
                             consecutive_failures=5)  # fmt: skip
    CustomerKeyFactory(office=disabled, status=KeyStatus.DISABLED_BY_DEVELOPER)
    assert incidents_evaluate(now=NOW)["opened"] == 0


def test_an_open_incident_closes_quietly_when_polling_is_turned_off(failing):
    office = failing(failures=2)
    incidents_evaluate(now=NOW)
    Office.objects.filter(pk=office.pk).update(polling_enabled=False)
    incidents_evaluate(now=NOW)
    incident = Incident.objects.get()
    assert incident.resolution == Resolution.NOT_MONITORED and incident.resolve_planned


def test_evaluation_costs_the_same_statements_for_10_or_300_offices(failing, account):
    def statements() -> int:
        with CaptureQueriesContext(connection) as ctx:
            incidents_evaluate(now=NOW)
        return len(ctx)

    for _ in range(10):
        failing(failures=2)
    few = statements()
    Office.objects.bulk_create(
        [Office(account=account, name=f"Bulk {i}", status=OfficeStatus.ECONNECTOR_DOWN,
                consecutive_failures=3) for i in range(300)]
    )  # fmt: skip
    assert statements() == few
    assert Incident.objects.filter(resolved_at__isnull=True).count() == 310
