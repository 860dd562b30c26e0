"""Fixtures of the API tools: a sandbox office with a logged-in owner, the sandbox's counters."""

from __future__ import annotations

import httpx
import pytest


@pytest.fixture(autouse=True)
def _memory_broker(settings):
    settings.CELERY_BROKER_URL = "memory://"


@pytest.fixture
def sandbox_office(sandbox_account):
    """The sandbox office with every permission (ShortQuery, appointments, subscriptions)."""
    return sandbox_account["Queries Office"]


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


@pytest.fixture
def violations(sandbox):
    """The sandbox's throttle violations so far, per customer key hash and in all."""

    def count() -> int:
        stats = httpx.get(f"{sandbox.control_url}/stats", timeout=10).json()
        return stats["throttle_violations"]

    return count
