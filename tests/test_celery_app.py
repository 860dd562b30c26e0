"""The Celery app survives acks on a connection the broker took away (odportal/celery.py)."""

from __future__ import annotations

import os

import kombu
import pytest
import redis

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def channel():
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError:
        pytest.skip("needs Redis (CI runs it)")
    import odportal.celery  # noqa: F401 - installs the wrappers

    conn = kombu.Connection(REDIS_URL)
    yield conn.channel()
    conn.release()


def test_a_late_ack_after_the_connection_went_away_leaves_the_message_for_redelivery(channel):
    qos = channel.qos
    qos._delivered["tag-1"] = object()
    channel.connection, channel._pool = None, None  # what losing the broker leaves behind
    qos.ack("tag-1")  # kombu alone raises AttributeError here and the consumer stops
    assert "tag-1" in qos._dirty  # forgotten locally, as any ack is; Redis keeps it unacked
