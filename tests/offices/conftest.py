"""Fixtures of the office pages: a key, a snapshot with rows, logged-in clients."""

from __future__ import annotations

import pytest

from integrations.offices.services import keys
from tests.factories import random_key
from tests.offices.factories import AgingSnapshotFactory, make_current, make_rows


@pytest.fixture(autouse=True)
def _memory_broker(settings):
    settings.CELERY_BROKER_URL = "memory://"


@pytest.fixture
def key(office, owner):
    return keys.customer_key_add(office=office, key=random_key(), actor=owner)


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
