"""The overview's queue depth: measured from the broker by the watchers (Redis: the list's
length; the filesystem broker: its message files), kept on a row the pages read."""

from __future__ import annotations

import shutil
from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.alerts.models import Heartbeat
from integrations.alerts.services import heartbeats
from odportal.celery import app
from tests.helpers import RedisServer, free_port


@pytest.fixture
def broker(celery_broker):
    """Point the app at another broker for one test (and back), on a queue of its own."""
    url, options, queue = celery_broker

    def use(url: str, options: dict | None = None) -> None:
        app.conf.update(broker_url=url, broker_transport_options=options or {},
                        task_default_queue="depth-test")  # fmt: skip

    yield use
    app.conf.update(broker_url=url, broker_transport_options=options, task_default_queue=queue)


def _enqueue(n: int) -> None:
    # Its own connection: the app's producer pool may still hold the session's broker.
    with app.connection_for_write() as conn:
        for i in range(n):
            app.send_task("alerts.no_such_task", args=[i], connection=conn)  # never consumed


def test_filesystem_broker_counts_its_message_files(broker, tmp_path):
    folder = tmp_path / "queue"
    folder.mkdir()
    broker("filesystem://", {
        "data_folder_in": str(folder), "data_folder_out": str(folder),
        "control_folder": str(tmp_path), "store_processed": False,
    })  # fmt: skip
    assert heartbeats.queue_depth_measure() == 0
    _enqueue(3)
    assert heartbeats.queue_depth_measure() == 3


def test_redis_broker_reads_the_list_length(broker, tmp_path):
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    redis = RedisServer(tmp_path / "redis.log").start()
    try:
        broker(redis.url)
        assert heartbeats.queue_depth_measure() == 0  # Redis has no key for an empty list
        _enqueue(4)
        assert heartbeats.queue_depth_measure() == 4
    finally:
        redis.stop()


def test_a_broker_away_is_unknown_not_an_error(broker, db):
    broker(f"redis://127.0.0.1:{free_port()}/0")
    assert heartbeats.queue_depth_record(now=timezone.now()) is None
    assert heartbeats.system_health(now=timezone.now()).queue_depth is None


def test_the_overview_shows_the_kept_depth_without_asking_the_broker(owner_client, broker):
    now = timezone.now()
    heartbeats.heartbeat_write(name=heartbeats.QUEUE, now=now, value=17)
    # A broker that cannot answer: the page must not be asking it.
    broker(f"redis://127.0.0.1:{free_port()}/0")
    body = owner_client.get("/").content.decode()
    assert "queue depth 17" in body


def test_a_depth_nobody_measured_lately_shows_as_unknown(owner_client, settings):
    settings.SWEEP_INTERVAL_S = 60
    stale = timezone.now() - timedelta(minutes=10)
    Heartbeat.objects.create(name=heartbeats.QUEUE, at=stale, value=5)
    assert "queue depth unknown" in owner_client.get("/").content.decode()
