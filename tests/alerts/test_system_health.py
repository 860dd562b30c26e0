"""odportal's own health: the sweep's and the workers' heartbeats, the banner, "Poll now"."""

from __future__ import annotations

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from integrations.alerts import tasks
from integrations.alerts.models import Heartbeat
from integrations.alerts.services.heartbeats import (
    SWEEP,
    WORKER_PREFIX,
    heartbeat_write,
    system_health,
)
from integrations.offices.models import PollRun

BANNER = "odportal itself needs attention"


def _alive(now=None):
    now = now or timezone.now()
    heartbeat_write(name=SWEEP, now=now)
    heartbeat_write(name=WORKER_PREFIX + "celery@a", now=now)


def test_no_heartbeat_at_all_shows_the_banner_on_every_page(owner_client, account):
    for url in ["/", reverse("office_list"), reverse("account_alerts", args=[account.public_id])]:
        body = owner_client.get(url).content.decode()
        assert BANNER in body and "no worker is running" in body, url


def test_fresh_heartbeats_clear_the_banner_and_the_overview_says_who_is_alive(owner_client):
    _alive()
    heartbeat_write(name=WORKER_PREFIX + "celery@b", now=timezone.now())
    body = owner_client.get("/").content.decode()
    assert BANNER not in body and "2 workers alive" in body and "Last sweep" in body


def test_a_sweep_missing_for_three_intervals_is_late(settings, db):
    now = timezone.now()
    _alive(now - timedelta(seconds=settings.SWEEP_INTERVAL_S * 3 - 1))
    assert not system_health(now=now).degraded
    later = now + timedelta(seconds=2)
    health = system_health(now=later)
    assert health.sweep_late and health.workers_alive == 0 and health.degraded


def test_the_evaluation_task_records_the_sweep(db):
    tasks.evaluate_task()
    assert Heartbeat.objects.filter(name=SWEEP).exists()


def test_poll_now_with_no_worker_alive_says_so_at_once(owner_client, office, key):
    heartbeat_write(name=SWEEP, now=timezone.now())
    url = reverse("office_poll", args=[office.public_id])
    response = owner_client.post(url, {"kind": "health"}, headers={"HX-Request": "true"})
    assert PollRun.objects.filter(office=office).exists()
    assert "No worker is alive" in response.content.decode()
    _alive()
    again = owner_client.get(reverse("office_detail", args=[office.public_id])).content.decode()
    assert "No worker is alive" not in again


def test_the_login_page_shows_no_banner(client, db):
    assert BANNER not in client.get(reverse("login")).content.decode()
