"""``bench refresh``: where a worker's CPU goes in an aging refresh, phase by phase.

``bench fleet`` measures the whole worker process; this one explains its figure. It runs the
worker's own code (``execute.run_execute``) in this process, one office after another against
the sandbox, and times each phase in thread CPU (``time.thread_time``: sleeping for a throttle
slot and waiting on a socket cost nothing). Requests are spaced by the pacer as in production
(the interval scaled by ``--interval-s``, plus ``OPENDENTAL_PACE_MARGIN_S``), so the CPU caches
cool between requests much as they do at Open Dental's real interval. No broker: the runs are
executed directly, so the figures leave out the Celery message (``bench fleet`` includes it).
This is the single-run path ("Refresh now", resumed runs); the sweep's daily refreshes go
in batches (``polling.batch``), which ``bench fleet`` measures.

The phases are timed by wrapping these functions for the duration of the benchmark (inclusive
CPU of each call):
- per request: ``_ApiClient._pace_wait`` (the pacer's booking), ``httpx.Client.send`` (send,
  receive), the rest of ``_ApiClient._attempt`` (building the request, status check and JSON
  decoding), and ``recipe.rows_from_query`` (typed rows);
- per refresh: ``runs.run_claim``, ``snapshots.snapshot_open``,
  ``snapshots.snapshot_row_count``, ``snapshots.snapshots_rows_ingest`` (COPY),
  ``snapshots.snapshots_complete`` and ``runs.runs_finish_ok``;
  "other" is what is left (the current key, decrypting the key pair, building the client, the
  run's bookkeeping).
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from django.conf import settings

from integrations.devtools.bench import common, fleet
from integrations.devtools.sandbox import sandbox_settings
from integrations.offices.models import PollKind
from integrations.offices.services.aging import recipe, snapshots
from integrations.offices.services.polling import dispatch, runs
from integrations.opendental.client import _ApiClient

# (label, owner, attribute): the functions timed, in the order they are reported.
REQUEST_PHASES = (
    ("pace", _ApiClient, "_pace_wait"),
    ("send", httpx.Client, "send"),
    ("attempt", _ApiClient, "_attempt"),  # pace + send + decode: decode is the difference
    ("rows", recipe, "rows_from_query"),
)
REFRESH_PHASES = (
    ("claim", runs, "run_claim"),
    ("snapshot_open", snapshots, "snapshot_open"),
    ("row_count", snapshots, "snapshot_row_count"),
    ("ingest", snapshots, "snapshots_rows_ingest"),
    ("complete", snapshots, "snapshots_complete"),
    ("finish", runs, "runs_finish_ok"),
)


@dataclass
class RefreshOptions:
    offices: int = 100
    guarantors: int = 500
    interval_s: float = 0.002
    keep: bool = False


class _Timers:
    """Thread CPU per label."""

    def __init__(self) -> None:
        self.cpu: Counter[str] = Counter()

    def clear(self) -> None:
        self.cpu.clear()

    def wrap(self, label: str, func: Any) -> Any:
        @functools.wraps(func)
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.thread_time()
            try:
                return func(*args, **kwargs)
            finally:
                self.cpu[label] += time.thread_time() - started

        return timed


@contextlib.contextmanager
def _timed_phases(timers: _Timers) -> Iterator[None]:
    """Wrap every phase's function for the duration of the block (restored afterwards)."""
    originals = []
    try:
        for label, owner, name in (*REQUEST_PHASES, *REFRESH_PHASES):
            func = getattr(owner, name)
            originals.append((owner, name, func))
            setattr(owner, name, timers.wrap(label, func))
        yield
    finally:
        for owner, name, func in reversed(originals):
            setattr(owner, name, func)


@contextlib.contextmanager
def _throttle_scale(scale: float) -> Iterator[None]:
    """The client paces by the sandbox's (scaled) interval, as bench fleet's worker does."""
    before = settings.OPENDENTAL_THROTTLE_SCALE
    settings.OPENDENTAL_THROTTLE_SCALE = scale
    try:
        yield
    finally:
        settings.OPENDENTAL_THROTTLE_SCALE = before


def refresh_run(options: RefreshOptions, say: common.Say) -> dict[str, Any]:
    """Run the benchmark; returns its figures (``verified`` says whether totals matched)."""
    if options.offices < 2:
        raise RuntimeError("--offices must be at least 2 (the first refresh is a warm-up)")
    work_dir = Path(settings.VAR_DIR) / f"bench-refresh-{options.offices}x{options.guarantors}"
    sandbox = common.sandbox_process(
        offices=options.offices, guarantors=options.guarantors,
        throttle_scale=options.interval_s, latency_ms=0, work_dir=work_dir,
    )  # fmt: skip
    try:
        manifest = common.read_manifest(sandbox.start(priority=-10), work_dir)
        say(f"sandbox: {manifest['base_url']} (log {sandbox.log_path})")
        expected = fleet.expected_totals(fleet.control_url(manifest["base_url"]), manifest, say)
        offices = fleet.fleet_create(manifest, say)
        with _throttle_scale(options.interval_s), sandbox_settings(manifest["base_url"]):
            figures = _measure(offices, say)
        _say_phases(figures, say)
        verified, rows = fleet.verify(offices, expected, say)
        return {**figures, "rows": rows, "verified": verified}
    finally:
        sandbox.stop()
        if not options.keep:
            fleet.fleet_cleanup(say)


def _measure(offices: list, say: common.Say) -> dict[str, Any]:
    timers = _Timers()
    total_cpu, requests, measured = 0.0, 0, 0
    with _timed_phases(timers):
        for index, office in enumerate(offices):
            run, _ = dispatch.poll_enqueue(office=office, kind=PollKind.AGING, send=False)
            if index == 1:  # the first refresh warms up imports and connections
                timers.clear()
            started = time.thread_time()
            common.run_to_end(run.pk, claimer="bench-refresh")
            cpu = time.thread_time() - started
            if index >= 1:
                run.refresh_from_db(fields=["requests"])
                total_cpu += cpu
                requests += run.requests
                measured += 1
            if index % 25 == 24:
                say(f"refresh: {index + 1}/{len(offices)} offices refreshed")
    return _figures(timers, total_cpu, requests, measured, len(offices))


def _say_phases(figures: dict[str, Any], say: common.Say) -> None:
    """The breakdown as a table, for people (the JSON line follows)."""
    per_request = figures["requests_per_refresh"] or 1
    say(f"cpu: {figures['cpu_ms_per_refresh']:.2f} ms a refresh of "
        f"{figures['requests_per_refresh']} requests, {figures['cpu_ms_per_request']:.3f} ms "
        "a request")  # fmt: skip
    for label, ms in figures["phases_ms_per_refresh"].items():
        say(f"cpu:   {label:<14} {ms:7.2f} ms a refresh  {ms / per_request:6.3f} ms a request")


def _figures(
    timers: _Timers, total_cpu: float, requests: int, measured: int, offices: int
) -> dict[str, Any]:
    def per_refresh(seconds: float) -> float:
        return round(seconds * 1000 / measured, 3)

    # Every phase is listed, at 0 when it never ran (a new snapshot's rows are not counted).
    cpu = {label: timers.cpu[label] for label, _, _ in (*REQUEST_PHASES, *REFRESH_PHASES)}
    decode = cpu.pop("attempt") - cpu["pace"] - cpu["send"]
    cpu = {"pace": cpu["pace"], "send": cpu["send"], "decode": decode, **cpu}
    other = total_cpu - sum(cpu.values())
    phases = {label: per_refresh(seconds) for label, seconds in cpu.items()}
    phases["other"] = per_refresh(other)
    # What one request costs before any database work: booking, httpx, decoding.
    request_path = cpu["pace"] + cpu["send"] + cpu["decode"]
    return {
        "offices": offices,
        "refreshes": measured,
        "requests": requests,
        "requests_per_refresh": round(requests / measured, 2) if measured else None,
        "cpu_ms_per_refresh": per_refresh(total_cpu),
        "cpu_ms_per_request": round(total_cpu * 1000 / requests, 3) if requests else None,
        "request_path_ms_per_request": (
            round(request_path * 1000 / requests, 3) if requests else None
        ),
        "phases_ms_per_refresh": phases,
    }
