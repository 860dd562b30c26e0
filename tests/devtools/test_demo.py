"""The Quick start's demo, end to end: sandbox, worker, beat, polls, aging, on embedded defaults."""

import re
import socket
import subprocess
import sys
from email import message_from_bytes

from tests.helpers import ROOT, embedded_env, sigterm_leaves_no_helpers


def test_demo_shows_an_office_ok_with_current_aging_and_every_kind_of_status(tmp_path):
    # Its own var/ (SQLite, filesystem broker, sandbox files): exactly the embedded defaults.
    env = embedded_env(tmp_path / "var")
    env.pop("DEBUG", None)  # as on a fresh clone: the demo turns DEBUG on for itself
    argv = [sys.executable, "manage.py", "demo", "--check", "--sandbox-port", "0"]
    for _ in range(2):  # idempotent: the second run reuses what the first made
        result = subprocess.run(  # noqa: S603 - fixed argv
            argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "demo check: OK" in out
    assert "Bright Smiles Dental: OK · aging 800 guarantors" in out
    assert "Riverside Dental Care: eConnector down" in out
    assert "Summit Orthodontics: Key disabled" in out
    # A closed location whose key the vendor disabled in the Developer Portal.
    assert "Old Town Dental (closed): Key disabled" in out
    assert "Sandbox offices: 5 rows: 0 created, 5 skipped" in out
    # The eConnector-down office's incident reached the demo's own mailbox and receiver.
    mail = re.search(r"Alert mail: (\d+) message\(s\); signed webhooks: (\d+)", out)
    assert mail and int(mail[1]) >= 1 and int(mail[2]) >= 1, out[-2000:]
    maildir = tmp_path / "var" / "mail" / "new"
    subjects = [message_from_bytes(p.read_bytes())["Subject"] for p in maildir.iterdir()]
    assert any("Riverside Dental Care" in (s or "") for s in subjects), subjects


def test_terminating_the_demo_stops_its_worker_and_beat(tmp_path):
    """kill (SIGTERM) must not leave a stray worker behind on the embedded broker."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    argv = [sys.executable, "manage.py", "demo", "--sandbox-port", "0",
            "--addr", f"127.0.0.1:{port}"]  # fmt: skip
    log_path = tmp_path / "demo.log"
    with log_path.open("w") as log:
        demo = subprocess.Popen(  # noqa: S603 - fixed argv
            argv, cwd=ROOT, env=embedded_env(tmp_path / "var"), stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    # The Celery worker and beat.
    sigterm_leaves_no_helpers(
        demo, log_path, ready="odportal demo:", ready_timeout_s=180, helpers=2
    )
