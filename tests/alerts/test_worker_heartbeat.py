"""A real Celery worker writes its heartbeat and removes it on a clean stop; a sweep it runs
hands over to the alerts evaluation (sent by name), which records the sweep."""

from __future__ import annotations

import time

import pytest
from django.utils import timezone

from integrations.alerts.models import Heartbeat
from integrations.alerts.services.heartbeats import SWEEP, WORKER_PREFIX, system_health
from tests.helpers import Worker

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _wait_for(predicate, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    raise AssertionError("timed out")


def test_a_worker_heartbeats_and_its_sweep_is_recorded(celery_broker, tmp_path):
    from odportal.celery import app

    worker = Worker(celery_broker, tmp_path / "worker.log", ODPORTAL_WORKER_HEARTBEAT_S="1")
    assert system_health(now=timezone.now()).workers_alive == 0
    worker.start(concurrency=2)
    try:
        workers = Heartbeat.objects.filter(name__startswith=WORKER_PREFIX)
        _wait_for(workers.exists)
        assert system_health(now=timezone.now()).workers_alive == 1
        app.send_task("offices.sweep", queue=worker.queue)
        _wait_for(Heartbeat.objects.filter(name=SWEEP).exists)
        assert not system_health(now=timezone.now()).degraded
    finally:
        worker.stop()
    assert not workers.exists()  # a clean stop removes the heartbeat at once
    assert system_health(now=timezone.now()).degraded
