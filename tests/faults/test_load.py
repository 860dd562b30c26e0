"""Load: many logged-in users read the office list and aging pages while a real worker sweeps.

Loopback only and bounded in time. It asserts that every response was a 200 and prints what it
saw (count, p50, p95, max); timings are reported, not asserted (they belong in benchmarks).
"""

from __future__ import annotations

import statistics
import threading
import time

import httpx
import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse

from integrations.offices.models import PollKind, PollRun
from integrations.offices.services.polling import sweep
from tests.helpers import THROTTLE_SCALE, Worker

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

USERS = 20
DURATION_S = 12


@pytest.fixture
def worker(celery_broker, tmp_path, sandbox):
    from odportal.celery import app

    app.control.purge()
    w = Worker(
        celery_broker, tmp_path / "worker.log", OPENDENTAL_THROTTLE_SCALE=str(THROTTLE_SCALE),
        OPENDENTAL_REMOTE_BASE_URL=sandbox.base_url,
    )  # fmt: skip
    yield w
    w.stop()


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies[django_settings.SESSION_COOKIE_NAME].value


def test_twenty_users_reading_pages_during_a_sweep_all_get_200(
    live_server, sandbox_account, owner, worker
):
    worker.start(concurrency=4)
    offices = list(sandbox_account.values())
    paths = [reverse("office_list"), reverse("overview")] + [
        reverse(name, args=[o.public_id]) for o in offices for name in ("office_aging",)
    ]
    cookie = session_cookie(owner)
    results: list[tuple[int, float, str]] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + DURATION_S

    def user(n: int) -> None:
        cookies = {django_settings.SESSION_COOKIE_NAME: cookie}
        with httpx.Client(base_url=live_server.url, cookies=cookies, timeout=30) as http:
            i = n
            while time.monotonic() < stop_at:
                path = paths[i % len(paths)]
                started = time.monotonic()
                try:
                    status = http.get(path).status_code
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                with lock:
                    results.append((status, time.monotonic() - started, path))
                i += 1

    threads = [threading.Thread(target=user, args=(n,)) for n in range(USERS)]
    for t in threads:
        t.start()
    sweeps = 0
    while time.monotonic() < stop_at:  # health first, then aging once offices are OK
        sweep.sweep_due_offices()
        sweeps += 1
        time.sleep(2)
    for t in threads:
        t.join(timeout=60)

    errors = [(s, p) for s, _, p in results if s != 200]
    times = sorted(d for _, d, _ in results)
    p95 = times[int(len(times) * 0.95) - 1] * 1000
    done = PollRun.objects.exclude(outcome__in=["queued", "running"])
    print(
        f"\nload: {USERS} users, {DURATION_S}s, {len(results)} requests, {len(errors)} errors, "
        f"p50 {statistics.median(times) * 1000:.0f} ms, p95 {p95:.0f} ms, "
        f"max {times[-1] * 1000:.0f} ms; {sweeps} sweeps, runs finished meanwhile: "
        f"{done.filter(kind=PollKind.HEALTH).count()} health, "
        f"{done.filter(kind=PollKind.AGING).count()} aging"
    )
    assert results and not errors, errors[:10]
    assert done.exists()  # the sweep really ran alongside the readers
