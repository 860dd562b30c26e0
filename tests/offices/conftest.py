"""Fixtures of the office pages: a current snapshot with rows, a client logged in as the owner."""

from __future__ import annotations

import pytest

from tests.factories import AgingSnapshotFactory, make_current, make_rows


@pytest.fixture(autouse=True)
def _memory_broker(settings):
    settings.CELERY_BROKER_URL = "memory://"


@pytest.fixture
def snapshot(office):
    snap = AgingSnapshotFactory(office=office)
    make_rows(snap, 30, clinics=(0, 1))
    make_current(office, snap)
    return snap


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client
