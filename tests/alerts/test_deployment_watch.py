"""The watchers for real: with no worker running, the beat's own watcher opens the
deployment's incident and sends it over real SMTP, and keeps the queue depth it sees grow."""

from __future__ import annotations

import time

import pytest

from integrations.alerts.models import Heartbeat, Incident, IncidentSource
from integrations.alerts.services import channels
from integrations.alerts.services.heartbeats import QUEUE
from tests.helpers import Beat, Worker

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _wait_for(predicate, timeout: float = 45) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    raise AssertionError("timed out")


def test_the_beat_alone_opens_the_deployment_incident_and_emails_it(
    celery_broker, tmp_path, smtp, account, owner, settings
):
    channels.channel_create(account=account, actor=owner, kind="email", name="Ops",
                            target="ops@vendor.example")  # fmt: skip
    # Only the beat: every sweep it sends waits in the queue, and no worker is alive.
    env = Worker(celery_broker, tmp_path / "unused.log").env | {
        "ODPORTAL_SWEEP_INTERVAL_S": "1", "ODPORTAL_WORKER_HEARTBEAT_S": "1",
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(settings.EMAIL_PORT),
    }  # fmt: skip
    beat = Beat(env, tmp_path).start()
    try:
        opened = Incident.objects.filter(source=IncidentSource.DEPLOYMENT, account=account)
        _wait_for(opened.exists)
        _wait_for(lambda: len(smtp.messages) == 1)
        assert "no worker is alive" in opened.get().detail
        assert smtp.messages[0]["Subject"] == "[odportal] odportal not running"
        _wait_for(lambda: (Heartbeat.objects.filter(name=QUEUE).first() or Heartbeat()).value)
    finally:
        beat.stop()
    assert Heartbeat.objects.get(name=QUEUE).value >= 1  # the sweeps nobody took
