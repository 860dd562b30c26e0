"""Fixtures of the alerts tests: a real webhook receiver on loopback (the SMTP server is shared),
a client logged in as the owner, and offices in a given health."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from integrations.offices.models import OfficeStatus
from tests.factories import CustomerKeyFactory, OfficeFactory


@pytest.fixture(autouse=True)
def _memory_broker(settings):
    settings.CELERY_BROKER_URL = "memory://"


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


@dataclass
class Receiver:
    """A webhook receiver on loopback that checks each request's signature as a vendor would."""

    url: str = ""
    secret: str = ""
    status: int = 200
    received: list[dict] = field(default_factory=list)

    def verify(self, headers, body: bytes) -> bool:
        timestamp = headers.get("X-Odportal-Timestamp", "")
        expected = hmac.new(self.secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
        given = headers.get("X-Odportal-Signature", "")
        return hmac.compare_digest(given, "sha256=" + expected.hexdigest())


@pytest.fixture
def receiver(settings):
    """The receiver; loopback is allowed for the test (as a deployment would list its network)."""
    settings.ODPORTAL_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            verified = state.verify(self.headers, body)
            state.received.append(
                {"body": json.loads(body), "verified": verified, "headers": dict(self.headers)}
            )
            self.send_response(state.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/odportal"
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def failing(account):
    """An office of the account with a current key, failing: set its status and count."""

    def make(status=OfficeStatus.ECONNECTOR_DOWN, failures=2, **kwargs):
        office = OfficeFactory(account=account, status=status, consecutive_failures=failures,
                               **kwargs)  # fmt: skip
        CustomerKeyFactory(office=office)
        return office

    return make
