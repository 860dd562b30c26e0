"""``bench notify``: from a fault at an office to the delivered notification, at fleet size.

A sandbox of N offices in its own process, a real Celery worker and beat (the production
sweep), the fleet imported and marked OK with its next health polls spread over one interval
(as a running fleet's are), and a signed-webhook channel to a receiver on loopback (the demo's).
Then the eConnector of K offices stops, each at a random moment within one interval; the clock
of each runs from that moment to the receiver holding its "incident opened" webhook. What a
vendor waits is one health interval at worst for the next poll, the confirmation poll
(``ODPORTAL_HEALTH_CONFIRM_S``), the evaluation and the delivery.
"""

from __future__ import annotations

import json
import random
import statistics
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from django.conf import settings
from django.utils import timezone

from integrations.alerts.models import ChannelKind
from integrations.alerts.services.channels import channel_create
from integrations.devtools.bench import common, fleet
from integrations.devtools.demo_inbox import demo_inbox
from integrations.devtools.sandbox import sandbox_settings
from integrations.offices.models import Office

LOOPBACK = ["127.0.0.0/8"]


@dataclass
class NotifyOptions:
    offices: int = 1000
    faults: int = 5
    interval_s: int = 300
    sweep_s: int = 60
    timeout_s: float = 1200.0
    keep: bool = False
    seed: int = 11


def notify_run(options: NotifyOptions, say: common.Say) -> dict[str, Any]:
    """Run it; ``verified``: each faulted office told once, signed, and no other office."""
    if not 1 <= options.faults <= options.offices:
        raise RuntimeError("--faults must be between 1 and --offices")
    work_dir = Path(settings.VAR_DIR) / f"bench-notify-{options.offices}"
    sandbox = common.sandbox_process(offices=options.offices, guarantors=5, throttle_scale=1.0,
                                     latency_ms=0, work_dir=work_dir)  # fmt: skip
    children: list[common.Child] = []
    # The receiver is on loopback, which production settings refuse as a webhook target.
    allowed, settings.ODPORTAL_ALLOWED_NETWORKS = settings.ODPORTAL_ALLOWED_NETWORKS, LOOPBACK
    try:
        manifest = common.read_manifest(sandbox.start(priority=-10), work_dir)
        with sandbox_settings(manifest["base_url"]), demo_inbox(work_dir / "inbox") as inbox:
            for old in inbox.webhook_dir.glob("*.json"):
                old.unlink()
            offices = fleet.fleet_create(manifest, say)
            _schedule(offices, options, random.Random(options.seed))
            _, secret = channel_create(
                account=offices[0].account, actor=None, kind=ChannelKind.WEBHOOK,
                name="bench receiver", target=inbox.webhook_url,
            )  # fmt: skip
            inbox.webhook_secrets = (secret,)
            env = {"ODPORTAL_SWEEP_INTERVAL_S": str(options.sweep_s),
                   "ODPORTAL_ALLOWED_NETWORKS": ",".join(LOOPBACK),
                   "DJANGO_SETTINGS_MODULE": "odportal.settings"}  # fmt: skip
            children.append(common.worker_process(concurrency=16, env=env, work_dir=work_dir,
                                                  name="bench-notify"))  # fmt: skip
            children.append(common.beat_process(env=env, work_dir=work_dir))
            children[0].start().wait_for_log(b" ready.", timeout=90)
            children[1].start()
            say(f"fleet: {len(offices)} offices, health every {options.interval_s} s, sweep "
                f"every {options.sweep_s} s; worker and beat started")  # fmt: skip
            injected = _inject(offices, options, manifest, random.Random(options.seed), say)
            told = _wait(inbox, injected, options.timeout_s, say)
        return _figures(options, injected, told)
    finally:
        settings.ODPORTAL_ALLOWED_NETWORKS = allowed
        for child in reversed(children):
            child.stop()
        sandbox.stop()
        if not options.keep:
            fleet.fleet_cleanup(say)


def _schedule(offices: list[Office], options: NotifyOptions, rng: random.Random) -> None:
    """The interval under test, and next polls spread over it as in a fleet that has run."""
    now = timezone.now()
    for office in offices:
        office.health_interval_s = options.interval_s
        office.next_health_at = now + timedelta(seconds=rng.uniform(0, options.interval_s))
    Office.objects.bulk_update(offices, ["health_interval_s", "next_health_at"], batch_size=1000)


def _inject(
    offices: list[Office], options: NotifyOptions, manifest: dict, rng: random.Random, say
) -> dict[str, float]:
    """Stop K eConnectors at random moments within one interval: office name -> when."""
    chosen = rng.sample(offices, options.faults)
    moments = sorted(rng.uniform(0, options.interval_s) for _ in chosen)
    control = httpx.Client(base_url=fleet.control_url(manifest["base_url"]), timeout=30)
    started, injected = time.time(), {}
    for office, at in zip(chosen, moments, strict=True):
        time.sleep(max(0.0, started + at - time.time()))
        control.post(f"/offices/{office.manifest_key}/faults",
                     json={"econnector_down": True}).raise_for_status()  # fmt: skip
        injected[office.name] = time.time()
        say(f"fault: {office.name}'s eConnector stopped at +{time.time() - started:.0f} s")
    control.close()
    return injected


def _wait(inbox, injected: dict[str, float], timeout_s: float, say) -> dict[str, list[dict]]:
    deadline = time.monotonic() + timeout_s
    told: dict[str, list[dict]] = {}
    while time.monotonic() < deadline:
        told = _opened(inbox)
        if all(name in told for name in injected):
            time.sleep(5)  # anything more (a duplicate, another office) would show by now
            return _opened(inbox)
        time.sleep(1)
    return told


def _opened(inbox) -> dict[str, list[dict]]:
    """The receiver's "incident opened" webhooks, by office name."""
    found: dict[str, list[dict]] = {}
    for path in inbox.webhook_dir.glob("*.json"):
        record = json.loads(path.read_text())
        payload = record.get("payload")
        if isinstance(payload, dict) and payload.get("event") == "incident.opened":
            found.setdefault(payload["office"]["name"], []).append(record)
    return found


def _figures(
    options: NotifyOptions, injected: dict[str, float], told: dict[str, list[dict]]
) -> dict[str, Any]:
    latencies = [told[name][0]["received_unix"] - at for name, at in injected.items()
                 if name in told]  # fmt: skip
    target = options.interval_s + 60
    verified = (
        set(told) == set(injected)
        and all(len(records) == 1 and records[0]["signature_ok"] for records in told.values())
    )  # fmt: skip
    return {
        "offices": options.offices,
        "faults": options.faults,
        "interval_s": options.interval_s,
        "sweep_s": options.sweep_s,
        "notified": len(latencies),
        "fault_to_notification_p50_s": _round(statistics.median, latencies),
        "fault_to_notification_max_s": _round(max, latencies),
        "target_s": target,
        "met": bool(latencies) and len(latencies) == len(injected) and max(latencies) <= target,
        "verified": verified,
    }


def _round(of, values: list[float]) -> float | None:
    return round(of(values), 1) if values else None
