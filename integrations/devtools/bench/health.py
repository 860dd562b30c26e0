"""``bench health``: what a health poll costs the worker, four designs side by side.

Against one sandbox process, in this process (no broker, as ``bench refresh``), every office is
polled once per design, in this order: one task per office doing the full check (five
requests: the design before liveness checks), one task per office doing the liveness check
(one request), then the same two on one event loop in batches (``polling.health_batch``, what
the sweep sends). CPU is this process's (``time.process_time``: the batch's event loop runs in
a thread of its own), so each design's figure holds everything it costs here: requests, pacing,
claims and the writes of the outcome.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from integrations.devtools.bench import common, fleet
from integrations.devtools.bench.refresh import _throttle_scale
from integrations.devtools.sandbox import sandbox_settings
from integrations.offices.models import Office, PollKind, PollRun, RunOutcome
from integrations.offices.services.polling import health_batch, runs

DESIGNS = ("single_full", "single_liveness", "batch_full", "batch_liveness")
REQUESTS_PER_POLL = {"full": 5, "liveness": 1}


@dataclass
class HealthOptions:
    offices: int = 200
    batch_size: int = 200
    interval_s: float = 0.002
    keep: bool = False


def health_run(options: HealthOptions, say: common.Say) -> dict[str, Any]:
    """Run the benchmark; ``verified`` says every poll succeeded with the expected requests."""
    if options.offices < 2:
        raise RuntimeError("--offices must be at least 2")
    work_dir = Path(settings.VAR_DIR) / f"bench-health-{options.offices}"
    sandbox = common.sandbox_process(
        offices=options.offices, guarantors=5, throttle_scale=options.interval_s, latency_ms=0,
        work_dir=work_dir,
    )  # fmt: skip
    try:
        manifest = common.read_manifest(sandbox.start(priority=-10), work_dir)
        say(f"sandbox: {manifest['base_url']} (log {sandbox.log_path})")
        offices = fleet.fleet_create(manifest, say)
        figures: dict[str, Any] = {"offices": len(offices), "batch_size": options.batch_size}
        verified = True
        with _throttle_scale(options.interval_s), sandbox_settings(manifest["base_url"]):
            _poll_single(offices[:1], say)  # warm-up: imports, connections
            for design in DESIGNS:
                result, ok = _design(design, offices, options.batch_size)
                verified &= ok
                figures[design] = result
                say(f"{design}: {result['cpu_ms_per_poll']:.2f} ms CPU a poll, "
                    f"{result['requests_per_poll']} requests, {result['polls_per_s']} polls/s"
                    f"{'' if ok else ' (NOT VERIFIED)'}")  # fmt: skip
        base = figures["single_full"]["cpu_ms_per_poll"]
        figures["cpu_ratio_batch_liveness_vs_single_full"] = round(
            figures["batch_liveness"]["cpu_ms_per_poll"] / base, 3
        )
        return {**figures, "verified": verified}
    finally:
        sandbox.stop()
        if not options.keep:
            fleet.fleet_cleanup(say)


def _design(design: str, offices: list[Office], batch_size: int) -> tuple[dict[str, Any], bool]:
    engine, check = design.split("_")
    ids = [o.pk for o in offices]
    # Full: no full check on record. Liveness: the last one just now (fleet_create's, or the
    # previous design's), with the key enabled before it.
    if check == "full":
        Office.objects.filter(pk__in=ids).update(health_full_at=None)
    else:
        Office.objects.filter(pk__in=ids).update(health_full_at=timezone.now())
    run_ids = [runs.run_create(office=o, kind=PollKind.HEALTH)[0].pk for o in offices]
    wall, cpu = time.monotonic(), time.process_time()
    if engine == "single":
        for run_id in run_ids:
            _run_single(run_id)
    else:
        for start in range(0, len(run_ids), batch_size):
            chunk = run_ids[start : start + batch_size]
            for run_id in health_batch.health_batch_execute(chunk, claimer=f"bench-{start}"):
                _run_single(run_id)  # handed back (never expected here)
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    done = list(PollRun.objects.filter(pk__in=run_ids).values_list("outcome", "requests"))
    requests = sum(r for _, r in done)
    ok = (
        all(o == RunOutcome.OK for o, _ in done)
        and requests == len(done) * (REQUESTS_PER_POLL[check])
    )
    return {
        "cpu_ms_per_poll": round(cpu * 1000 / len(run_ids), 3),
        "cpu_ms_per_request": round(cpu * 1000 / requests, 3) if requests else None,
        "requests_per_poll": round(requests / len(run_ids), 2),
        "polls_per_s": round(len(run_ids) / wall, 1),
    }, ok


def _poll_single(offices: list[Office], say: common.Say) -> None:
    for office in offices:
        _run_single(runs.run_create(office=office, kind=PollKind.HEALTH)[0].pk)
    say("warm-up: done")


def _run_single(run_id: int) -> None:
    common.run_to_end(run_id, claimer="bench-health")
