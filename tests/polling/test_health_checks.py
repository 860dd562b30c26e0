"""Cheap health polls: one liveness request between full checks, the full check when due."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from integrations.offices.models import Office, OfficeStatus, RunOutcome
from integrations.offices.services import health, keys
from tests.factories import random_key
from tests.helpers import run_to_end

FULL, LIVENESS = 5, 1  # requests per check


def _poll(office: Office, **kwargs) -> int:
    run = run_to_end(office, **kwargs)
    assert run.outcome == RunOutcome.OK, run.error
    office.refresh_from_db()
    return run.requests


def test_polls_between_full_checks_cost_one_request_and_keep_the_facts(sandbox_account):
    office = sandbox_account["Queries Office"]
    assert _poll(office) == FULL
    granted, version, full_at = (
        office.granted_permissions,
        office.program_version,
        office.health_full_at,
    )

    assert _poll(office) == LIVENESS
    assert _poll(office) == LIVENESS
    assert office.status == OfficeStatus.OK
    assert office.date_last_aging is not None and office.last_success_at > full_at
    assert (office.granted_permissions, office.program_version) == (granted, version)
    assert office.health_full_at == full_at


def test_the_full_check_comes_back_hourly(sandbox_account, settings):
    settings.HEALTH_FULL_CHECK_INTERVAL_S = 3600
    office = sandbox_account["Queries Office"]
    _poll(office)
    # The key was enabled before the last full check (else that alone brings a full one).
    office.keys.filter(is_current=True).update(enabled_at=timezone.now() - timedelta(hours=2))
    Office.objects.filter(pk=office.pk).update(
        health_full_at=timezone.now() - timedelta(minutes=59)
    )
    assert _poll(office) == LIVENESS
    Office.objects.filter(pk=office.pk).update(
        health_full_at=timezone.now() - timedelta(minutes=61)
    )
    assert _poll(office) == FULL


def test_poll_now_a_key_change_and_a_failure_each_bring_the_full_check(sandbox_account, owner):
    office = sandbox_account["Queries Office"]
    _poll(office)
    assert _poll(office) == LIVENESS
    assert _poll(office, actor=owner) == FULL  # "Poll now" by a person

    current = office.keys.get(is_current=True)
    keys.customer_key_disable(key=current, actor=owner)
    keys.customer_key_enable(key=current, actor=owner)
    office.refresh_from_db()
    assert _poll(office) == FULL  # enabled again since the last full check

    rotated = keys.customer_key_rotate(key=current, new_key=random_key(), actor=owner)
    office.refresh_from_db()
    assert health.health_is_full(office, rotated, manual=False, now=timezone.now())
    assert run_to_end(office).outcome == RunOutcome.FAILED  # Open Dental does not know it
    office.refresh_from_db()
    assert health.health_is_full(office, rotated, manual=False, now=timezone.now())


def test_liveness_notices_a_disabled_key_and_a_stopped_econnector_in_one_interval(
    sandbox_account, sandbox_control
):
    office = sandbox_account["Queries Office"]
    _poll(office)
    assert _poll(office) == LIVENESS

    full_at = office.health_full_at
    sandbox_control(office.manifest["customer_key"], econnector_down=True)
    run = run_to_end(office)  # the client retries a 400 twice: up to three liveness requests
    office.refresh_from_db()
    assert run.outcome == RunOutcome.FAILED and office.status == OfficeStatus.ECONNECTOR_DOWN
    assert office.health_full_at == full_at

    sandbox_control(office.manifest["customer_key"], econnector_down=False)
    assert _poll(office) == FULL  # after a failure every fact is read again
    sandbox_control(office.manifest["customer_key"], key_status="DisabledByCustomer")
    run = run_to_end(office)
    office.refresh_from_db()
    assert run.requests == LIVENESS and office.status == OfficeStatus.KEY_DISABLED


def test_a_removed_permission_shows_at_the_next_full_check(sandbox_account, sandbox, settings):
    office = sandbox_account["Queries Office"]
    _poll(office)
    assert "ApiQueries" in office.granted_permissions
    customer_key = office.manifest["customer_key"]
    sandbox.state.set_permissions(customer_key, ("ApiReadAll",))
    full_at = office.health_full_at
    try:
        assert _poll(office) == LIVENESS  # ReadAll still answers the preference
        Office.objects.filter(pk=office.pk).update(
            health_full_at=timezone.now() - timedelta(seconds=settings.HEALTH_FULL_CHECK_INTERVAL_S)
        )
        _poll(office)  # the full check (its first call may be throttled once: fewer perms,
        # slower pace)
        assert office.health_full_at > full_at
    finally:
        sandbox.state.set_permissions(customer_key, ("ApiReadAll", "ApiQueries"))
    assert office.missing_permissions == ["ApiQueries"]


def test_a_first_failure_is_confirmed_within_a_minute_then_the_interval_holds(
    sandbox_account, sandbox_control, settings
):
    office = sandbox_account["Queries Office"]
    Office.objects.filter(pk=office.pk).update(health_interval_s=300)
    _poll(office)
    sandbox_control(office.manifest["customer_key"], econnector_down=True)
    for failures, wait_s in ((1, settings.HEALTH_CONFIRM_S), (2, 300), (3, 300)):
        before = timezone.now()
        run_to_end(office)
        office.refresh_from_db()
        assert office.consecutive_failures == failures
        due_in = (office.next_health_at - before).total_seconds()
        assert wait_s <= due_in < wait_s + 30, (failures, due_in)


def test_a_health_batch_with_a_failure_evaluates_incidents_at_once(sandbox_account):
    from unittest import mock

    from integrations.offices import tasks
    from integrations.offices.models import PollKind
    from integrations.offices.services.polling import runs

    def batch(name: str) -> bool:
        run, _ = runs.run_create(office=sandbox_account[name], kind=PollKind.HEALTH)
        with mock.patch.object(tasks, "_alerts_evaluate_send") as send:
            tasks.health_batch_task.apply(args=[[run.pk]])
        return send.called

    assert batch("Down Office") is True
    assert batch("Spare Office") is False
