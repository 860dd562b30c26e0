"""``manage.py demo``: the whole product on embedded defaults, in one command.

Migrates the SQLite database, starts the Open Dental sandbox (a few offices of different
sizes, one with its eConnector down, one with a key the customer disabled), a Celery worker and
beat on the filesystem broker, seeds the demo login and accounts, polls every office at once,
and serves the dashboard until Ctrl-C. Running it again reuses everything it made.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from contextlib import ExitStack, suppress
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from integrations.devtools import demo
from integrations.devtools.demo_inbox import DemoInbox, demo_inbox
from integrations.devtools.sandbox import sandbox_settings
from integrations.devtools.termination import exit_through_cleanup_on_termination
from integrations.offices.services import inventory
from odportal.lib.files import private_dir

# The demo runs Open Dental's throttle 10x faster so statuses and aging show within a minute;
# the sandbox and the client use the same scale, so pacing is still exercised for real.
DEMO_THROTTLE_SCALE = "0.1"


class Command(BaseCommand):
    help = "Run odportal with demo data on http://127.0.0.1:8000 (development only)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--addr", default="127.0.0.1:8000")
        parser.add_argument("--sandbox-port", type=int, default=8765)
        parser.add_argument("--no-serve", action="store_true", help="Seed, poll once, exit.")
        parser.add_argument("--no-workers", action="store_true", help="No worker/beat processes.")
        parser.add_argument(
            "--check",
            action="store_true",
            help="Instead of serving: wait until an office is OK with current aging, then exit.",
        )

    def handle(self, *args, addr: str, sandbox_port: int, no_serve: bool, no_workers: bool,
               check: bool = False, **options) -> None:  # fmt: skip
        if not settings.DEBUG:
            raise CommandError("The demo creates a known login (demo/demo); it refuses DEBUG off.")
        private_dir(settings.VAR_DIR)
        exit_through_cleanup_on_termination()
        call_command("migrate", interactive=False, verbosity=0)
        os.environ["OPENDENTAL_THROTTLE_SCALE"] = DEMO_THROTTLE_SCALE
        settings.OPENDENTAL_THROTTLE_SCALE = float(DEMO_THROTTLE_SCALE)
        with ExitStack() as stack:
            sandbox = stack.enter_context(demo.demo_sandbox(port=sandbox_port))
            self.stdout.write(f"Open Dental sandbox: {sandbox.base_url}")
            self.stdout.write(f"Sandbox control API (loopback only): {sandbox.control_url}")
            # Remote offices (all of the demo's) go to the sandbox: here, in runserver, and in
            # the worker and beat started below (they inherit the environment).
            stack.enter_context(sandbox_settings(sandbox.base_url))
            inbox = stack.enter_context(demo_inbox(Path(settings.VAR_DIR)))
            self._mail_to(inbox)
            user = demo.demo_user_ensure()
            demo.demo_account_ensure(user=user)
            result = demo.demo_sandbox_account_ensure(user=user, manifest=sandbox.manifest)
            self.stdout.write(f"Sandbox offices: {result}")
            closed_key = demo.demo_portal_seed(sandbox.state)
            demo.demo_closed_office_ensure(user=user, customer_key=closed_key)
            inbox.webhook_secrets = tuple(
                demo.demo_alerts_ensure(user=user, webhook_url=inbox.webhook_url)
            )
            if not no_workers:
                for proc in self._start_workers():
                    stack.callback(_stop, proc)
            queued = demo.demo_poll_all()
            self.stdout.write(f"Polling now: {queued}")
            if not no_workers:  # the Developer Portal inventory too (beat: hourly)
                inventory.portal_inventories_queue()
            if check:
                self._check(inbox)
                return
            self.stdout.write(
                self.style.SUCCESS(f"odportal demo: http://{addr}/  login: demo / demo")
            )
            if not no_serve:
                call_command("runserver", addr, use_reloader=False)

    def _mail_to(self, inbox: DemoInbox) -> None:
        """Email goes to the demo's mailbox: here, and in the worker (inherited environment)."""
        values = {"EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                  "EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(inbox.smtp_port),
                  "EMAIL_USE_TLS": "false", "EMAIL_HOST_USER": "",
                  "EMAIL_HOST_PASSWORD": ""}  # fmt: skip
        os.environ.update(values)
        settings.EMAIL_BACKEND, settings.EMAIL_HOST = values["EMAIL_BACKEND"], "127.0.0.1"
        settings.EMAIL_PORT, settings.EMAIL_USE_TLS = inbox.smtp_port, False
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
        self.stdout.write(f"Alert mail: a Maildir under {inbox.mail_dir} (SMTP on 127.0.0.1:"
                          f"{inbox.smtp_port}); webhooks: {inbox.webhook_dir}")  # fmt: skip

    def _check(self, inbox: DemoInbox, timeout_s: float = 150.0) -> None:
        """Wait for the pipeline to show real results (the demo's own test uses this): an
        office OK with aging, and the eConnector-down office's incident as an email in the
        mailbox and a signed webhook at the receiver."""
        deadline = time.monotonic() + timeout_s
        ready = told = False
        while not (ready and told) and time.monotonic() < deadline:
            time.sleep(1)
            ready = ready or demo.demo_ready()
            told = told or (inbox.mail_count() > 0 and demo_signed_webhooks(inbox) > 0)
        for line in demo.demo_status_lines():
            self.stdout.write(line)
        self.stdout.write(f"Alert mail: {inbox.mail_count()} message(s); signed webhooks: "
                          f"{demo_signed_webhooks(inbox)}")  # fmt: skip
        if not ready:
            raise CommandError(f"No office was OK with current aging within {timeout_s:.0f} s.")
        if not told:
            raise CommandError(f"No incident email and webhook within {timeout_s:.0f} s.")
        self.stdout.write(self.style.SUCCESS("demo check: OK"))

    def _start_workers(self) -> list[subprocess.Popen]:
        """A worker (threads pool) and beat on the embedded broker, logging under var/."""
        env = {**os.environ, "ODPORTAL_SWEEP_INTERVAL_S": "20"}
        logs = Path(settings.VAR_DIR)
        base = [sys.executable, "-m", "celery", "-A", "odportal"]
        worker = base + ["worker", "--pool", "threads", "--concurrency", "16", "-l", "INFO"]
        beat = base + ["beat", "-l", "INFO", "--schedule", str(logs / "celerybeat-schedule")]
        procs = []
        for name, cmd in (("worker", worker), ("beat", beat)):
            log = (logs / f"demo-{name}.log").open("ab")
            procs.append(
                subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
            )
            self.stdout.write(f"Started Celery {name} (log: {logs / f'demo-{name}.log'})")
        return procs


def demo_signed_webhooks(inbox: DemoInbox) -> int:
    """Incident webhooks the receiver got with a valid signature."""
    count = 0
    for path in inbox.webhook_dir.glob("*.json"):
        record = json.loads(path.read_text())
        payload = record.get("payload")
        opened = isinstance(payload, dict) and payload.get("event") == "incident.opened"
        count += bool(record.get("signature_ok") and opened)
    return count


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    with suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=15)
        return
    proc.kill()
