"""Settings of ``bench day``'s worker and beat: production's, with every interval divided by
``ODPORTAL_BENCH_DAY_SPEED`` (the day compressed in time; the figures are normalised back).

Only the schedule changes: beat's entries and their expiries, the full-check, disabled-key and
aging-retry intervals, and Open Dental's throttle interval (the sandbox is started with the same
scale). Each office's own ``health_interval_s`` is set by the benchmark. Timeouts and staleness
limits stay as in production: they protect against lost work, they are not part of the day.
"""

from __future__ import annotations

import os

from odportal.settings import *  # noqa: F403 - production settings, then the compressed schedule
from odportal.settings import (
    AGING_RETRY_AFTER_FAILURE_S,
    CELERY_BEAT_SCHEDULE,
    HEALTH_FULL_CHECK_INTERVAL_S,
    KEY_DISABLED_RECHECK_S,
    OPENDENTAL_THROTTLE_SCALE,
    SWEEP_INTERVAL_S,
)

BENCH_DAY_SPEED = float(os.environ.get("ODPORTAL_BENCH_DAY_SPEED", "1"))


def _compressed(entry: dict) -> dict:
    options = dict(entry.get("options", {}))
    if "expires" in options:
        options["expires"] = options["expires"] / BENCH_DAY_SPEED
    return {**entry, "schedule": entry["schedule"] / BENCH_DAY_SPEED, "options": options}


CELERY_BEAT_SCHEDULE = {name: _compressed(e) for name, e in CELERY_BEAT_SCHEDULE.items()}
# A window shorter than the pruning's hour still sees it run (bench day sets when).
_prune_every = os.environ.get("ODPORTAL_BENCH_DAY_PRUNE_EVERY_S")
if _prune_every:
    CELERY_BEAT_SCHEDULE["prune-poll-history"] = {
        **CELERY_BEAT_SCHEDULE["prune-poll-history"],
        "schedule": float(_prune_every),
        "options": {"expires": max(float(_prune_every) - 1, 1.0)},
    }
SWEEP_INTERVAL_S = SWEEP_INTERVAL_S / BENCH_DAY_SPEED
HEALTH_FULL_CHECK_INTERVAL_S = HEALTH_FULL_CHECK_INTERVAL_S / BENCH_DAY_SPEED
KEY_DISABLED_RECHECK_S = KEY_DISABLED_RECHECK_S / BENCH_DAY_SPEED
AGING_RETRY_AFTER_FAILURE_S = AGING_RETRY_AFTER_FAILURE_S / BENCH_DAY_SPEED
OPENDENTAL_THROTTLE_SCALE = OPENDENTAL_THROTTLE_SCALE / BENCH_DAY_SPEED
