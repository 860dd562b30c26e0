"""Shared fixtures: the three users every view is tried with, and their account."""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

import pytest

from integrations.accounts.models import Role
from tests.factories import DeveloperAccountFactory, MembershipFactory, OfficeFactory, UserFactory


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def account(db):
    return DeveloperAccountFactory()


@pytest.fixture
def owner(account):
    return MembershipFactory(
        account=account, user=UserFactory(username="owner"), role=Role.OWNER
    ).user


@pytest.fixture
def teammate(account):
    """A viewer of the same account: sees everything, may change nothing."""
    return MembershipFactory(
        account=account, user=UserFactory(username="teammate"), role=Role.VIEWER
    ).user


@pytest.fixture
def outsider(db):
    """A user of another team."""
    other = MembershipFactory(user=UserFactory(username="outsider"), role=Role.OWNER)
    return other.user


@pytest.fixture
def office(account):
    return OfficeFactory(account=account)


# --- Celery broker for tests: Redis DB 14 when REDIS_URL is set (CI), else a temp filesystem
# broker; a worker subprocess started by a test gets the same settings through the env.


def _test_broker(tmp_root) -> tuple[str, dict]:
    redis_url = os.environ.get("REDIS_URL")
    if redis_url:
        parts = urlsplit(redis_url)
        db = os.environ.get("ODPORTAL_TEST_REDIS_DB", "14")
        return urlunsplit((parts.scheme, parts.netloc, f"/{db}", "", "")), {}
    folder = tmp_root / "broker"
    (folder / "queue").mkdir(parents=True, exist_ok=True)
    (folder / "control").mkdir(parents=True, exist_ok=True)
    return "filesystem://", {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "control_folder": str(folder / "control"),
        "store_processed": False,
    }


@pytest.fixture(scope="session")
def celery_broker(tmp_path_factory):
    """Point the app at the test broker; returns (url, transport options, queue)."""
    from odportal.celery import app

    url, options = _test_broker(tmp_path_factory.mktemp("celery"))
    # A queue of this test session's own: concurrent test runs sharing a Redis never steal work.
    queue = f"odportal-test-{os.getpid()}"
    app.conf.update(broker_url=url, broker_transport_options=options, task_default_queue=queue)
    app.connection_for_write().ensure_connection(max_retries=3)
    return url, options, queue


@pytest.fixture(autouse=True)
def _use_test_broker(celery_broker):
    return celery_broker


def pytest_collection_modifyitems(config, items):
    """Browser tests last: Playwright's sync API keeps an event loop running in this thread.

    Tests that stop services (marked ``faults``) run after even those.
    """
    items.sort(
        key=lambda item: (
            item.get_closest_marker("faults") is not None,
            "/tests/browser/" in str(item.path),
        )
    )
