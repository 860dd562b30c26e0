"""Shared fixtures: the three users every view is tried with, their account, office and key, the
Celery test broker, and the live polling sandbox with an account whose offices point at it."""

from __future__ import annotations

import os
from email import message_from_bytes
from email.message import Message
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from aiosmtpd.controller import Controller

from integrations.accounts.models import Role
from integrations.accounts.services import accounts
from integrations.offices.services import keys, offices
from tests.factories import (
    DeveloperAccountFactory,
    MembershipFactory,
    OfficeFactory,
    UserFactory,
    random_key,
)
from tests.helpers import NOWHERE_URL, THROTTLE_SCALE, Listener, free_port, polling_sandbox


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _no_real_open_dental(settings):
    """Remote offices never reach the real Open Dental from a test: nothing listens on port 9
    (the sandbox fixtures point them at the sandbox instead)."""
    settings.OPENDENTAL_REMOTE_BASE_URL = NOWHERE_URL


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
def listener():
    """A loopback TCP listener that records what reaches it (tests.helpers.Listener)."""
    server = Listener()
    yield server
    server.close()


@pytest.fixture
def office(account):
    return OfficeFactory(account=account)


@pytest.fixture
def key(office, owner):
    """The office's current customer key, added as the owner would."""
    return keys.customer_key_add(office=office, key=random_key(), actor=owner)


# --- the live polling sandbox (tests/polling, tests/security; tests/faults has its own) ---------


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory):
    with polling_sandbox(tmp_path_factory.mktemp("sandbox")) as sb:
        yield sb


@pytest.fixture
def sandbox_control(sandbox):
    """POST faults to the sandbox; every office's faults are cleared after the test."""
    http = httpx.Client(base_url=sandbox.control_url, timeout=10)

    def fault(customer_key: str, **changes) -> dict:
        response = http.post(f"/offices/{customer_key}/faults", json=changes)
        response.raise_for_status()
        return response.json()

    yield fault
    for office in sandbox.manifest["offices"]:
        # Reset, then put back what the office was created with (its own faults and key status).
        url = f"/offices/{office['customer_key']}/faults"
        http.post(url, json={"reset": True})
        http.post(
            url,
            json={"key_status": office["key_status"], "econnector_down": office["econnector_down"]},
        )
    http.close()


@pytest.fixture
def sandbox_totals(sandbox):
    def totals(customer_key: str) -> dict:
        url = f"{sandbox.control_url}/offices/{customer_key}/aging-totals"
        return httpx.get(url, timeout=30).json()

    return totals


@pytest.fixture
def od_settings(settings):
    settings.OPENDENTAL_THROTTLE_SCALE = THROTTLE_SCALE
    settings.MAX_INLINE_PACE_WAIT_S = 2.0
    return settings


@pytest.fixture
def sandbox_account(db, owner, sandbox, od_settings):
    """A developer account with every sandbox office and its key; offices keyed by name.

    They are Remote offices, as in production: the deployment's Open Dental URL
    (``OPENDENTAL_REMOTE_BASE_URL``) is the sandbox's for the test.
    """
    od_settings.OPENDENTAL_REMOTE_BASE_URL = sandbox.base_url
    manifest = sandbox.manifest
    account = accounts.developer_account_create(
        actor=owner,
        developer_key=manifest["developer_key"],
        company_name="Sandbox Vendor",
        contact_phone="+1 555 0100",
        billing_email="billing@sandbox.example",
        billing_address="1 Test Way",
        app_description="Tests",
        dev_name=manifest["dev_name"],
    )
    accounts.requested_permissions_set(
        account=account,
        actor=owner,
        matrix={"Patients": {"read": True}, "Queries": {"read": True}},
    )
    made = {}
    for spec in manifest["offices"]:
        office = offices.office_create(
            account=account, actor=owner, name=spec["name"], time_zone="UTC"
        )
        keys.customer_key_add(office=office, key=spec["customer_key"], actor=owner)
        office.manifest = spec
        made[spec["name"]] = office
    return made


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

    No other order is needed: the service-outage tests (marked ``faults``) stop and restart
    only servers and processes they started themselves, on ports of their own.
    """
    items.sort(key=lambda item: "/tests/browser/" in str(item.path))


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        message = message_from_bytes(envelope.original_content)
        message["X-Rcpt-To"] = ", ".join(envelope.rcpt_tos)
        self.messages.append(message)
        return "250 OK"


@pytest.fixture
def smtp(settings):
    """A real SMTP server on loopback; Django's SMTP backend sends to it."""
    mailbox = _Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    yield mailbox
    controller.stop()
