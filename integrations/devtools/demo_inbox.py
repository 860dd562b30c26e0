"""The demo's own mailbox and webhook receiver on loopback: an incident seen end to end.

The demo's alert channels point here, so a fault injected through the sandbox's control API
shows as an email in a Maildir under ``var/mail`` and a signed webhook under ``var/webhooks``
without any outside service.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

MAX_BODY = 1_000_000


@dataclass
class DemoInbox:
    smtp_port: int
    webhook_url: str
    mail_dir: Path
    webhook_dir: Path
    # Set once the channels exist (their secrets are made then): the receiver checks signatures.
    webhook_secrets: tuple[str, ...] = ()

    def mail_count(self) -> int:
        return len(list((self.mail_dir / "new").glob("*"))) if self.mail_dir.exists() else 0

    def webhook_count(self) -> int:
        return len(list(self.webhook_dir.glob("*.json")))


@contextmanager
def demo_inbox(var_dir: Path) -> Iterator[DemoInbox]:
    """Start both on free loopback ports; stop them on exit (what they stored stays)."""
    # aiosmtpd is a development dependency, as the devtools app is development-only.
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Mailbox

    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd's per-connection lines
    mail_dir, webhook_dir = var_dir / "mail", var_dir / "webhooks"
    webhook_dir.mkdir(parents=True, exist_ok=True)
    # aiosmtpd checks its server by connecting to the port it was given, so not port 0.
    smtp_port = _free_port()
    controller = Controller(Mailbox(mail_dir), hostname="127.0.0.1", port=smtp_port)
    controller.start()
    inbox = DemoInbox(smtp_port=smtp_port, webhook_url="", mail_dir=mail_dir,
                      webhook_dir=webhook_dir)  # fmt: skip
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(inbox))
    inbox.webhook_url = f"http://127.0.0.1:{server.server_address[1]}/odportal-webhook"
    thread = threading.Thread(target=server.serve_forever, daemon=True, name="demo-webhooks")
    thread.start()
    try:
        yield inbox
    finally:
        server.shutdown()
        server.server_close()
        controller.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _handler(inbox: DemoInbox) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self.send_response(413)
                self.end_headers()
                return
            body = self.rfile.read(length)
            timestamp = self.headers.get("X-Odportal-Timestamp", "")
            signature = self.headers.get("X-Odportal-Signature", "")
            signed = f"{timestamp}.".encode() + body
            expected = ["sha256=" + hmac.new(s.encode(), signed, hashlib.sha256).hexdigest()
                        for s in inbox.webhook_secrets]  # fmt: skip
            try:
                payload = json.loads(body)
            except ValueError:
                payload = body.decode("utf-8", "replace")
            record = {
                "received_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "received_unix": time.time(),
                "timestamp": timestamp,
                "signature_ok": any(hmac.compare_digest(e, signature) for e in expected),
                "payload": payload,
            }
            name = f"{time.time_ns()}.json"
            (inbox.webhook_dir / name).write_text(json.dumps(record, indent=2))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base's name
            pass  # the stored files are the log

    return Handler
