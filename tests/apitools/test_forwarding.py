"""Forwarding received API Events to the vendor's endpoint, signed, through the network guard."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.urls import reverse

from integrations.apitools.models import EventBatch
from integrations.apitools.services import events, forwarding
from integrations.apitools.tasks import events_forward_task
from integrations.offices.services import keys
from tests.factories import random_key


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((dict(self.headers), body))
        self.send_response(self.server.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def vendor():
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    server.received, server.status = [], 200
    threading.Thread(target=server.serve_forever, daemon=True).start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    yield server
    server.shutdown()


@pytest.fixture
def setup(office, owner, owner_client):
    plain = random_key()
    keys.customer_key_add(office=office, key=plain, actor=owner)
    return events.event_inbox_for_office(office), plain


def _receive(client, inbox, key, rows):
    return client.post(
        reverse("apitools_events_receive", args=[inbox.token]), data=json.dumps(rows),
        content_type="application/json",
        headers={"Authorization": key, "Workstation": "WS1", "Event-Type": "WatchTable: Patient"},
    )  # fmt: skip


def test_forwarded_batch_is_signed_and_keyless(
    owner_client, office, setup, vendor, django_capture_on_commit_callbacks
):
    inbox, key = setup
    response = owner_client.post(
        reverse("apitools_forward", args=[office.public_id]), {"forward_url": vendor.url},
        follow=True,
    )  # fmt: skip
    message = str(next(iter(response.context["messages"])))
    secret = message.rsplit(": ", 1)[1]
    with django_capture_on_commit_callbacks() as callbacks:
        _receive(owner_client, inbox, key, [{"PatNum": 1}])
    assert len(callbacks) == 1  # the forwarding task is sent once the batch is committed
    batch = EventBatch.objects.get()
    assert events_forward_task(batch.pk) is True
    ((headers, body),) = vendor.received
    assert json.loads(body) == [{"PatNum": 1}]
    assert headers["Workstation"] == "WS1" and headers["Event-Type"] == "WatchTable: Patient"
    expected = forwarding.forward_signature(secret, headers["X-Odportal-Timestamp"], body)
    assert headers["X-Odportal-Signature"] == expected
    assert key not in json.dumps(headers)
    batch.refresh_from_db()
    assert batch.forwarded_at and batch.forward_attempts == 1
    assert events_forward_task(batch.pk) is False  # sent once


def test_failing_endpoint_is_recorded_and_retried(owner, setup, vendor, client):
    inbox, key = setup
    forwarding.event_forward_set(inbox=inbox, actor=owner, url=vendor.url)
    vendor.status = 503
    _receive(client, inbox, key, [{"PatNum": 2}])
    batch = EventBatch.objects.get()
    with pytest.raises(forwarding.ForwardFailed):
        forwarding.event_batch_forward(batch.pk)
    batch.refresh_from_db()
    assert (batch.forwarded_at, batch.forward_error, batch.forward_attempts) == (
        None, "answered 503", 1)  # fmt: skip


def test_forwarding_goes_through_the_network_guard(owner, setup, vendor, client, settings):
    inbox, key = setup
    settings.ODPORTAL_ALLOWED_NETWORKS = []  # loopback no longer allowed
    forwarding.event_forward_set(inbox=inbox, actor=owner, url=vendor.url)
    _receive(client, inbox, key, [{"PatNum": 3}])
    with pytest.raises(forwarding.ForwardFailed):
        forwarding.event_batch_forward(EventBatch.objects.get().pk)
    assert vendor.received == []


def test_no_forwarding_sends_nothing(setup, client, django_capture_on_commit_callbacks):
    inbox, key = setup
    with django_capture_on_commit_callbacks() as callbacks:
        _receive(client, inbox, key, [{"PatNum": 4}])
    assert callbacks == []


def test_viewers_cannot_set_forwarding(client, teammate, office):
    client.force_login(teammate)
    url = reverse("apitools_forward", args=[office.public_id])
    assert client.post(url, {"forward_url": "https://x.example"}).status_code == 403
