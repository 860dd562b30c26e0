"""``bench sandbox-build``: how long the sandbox takes to generate one office's database.

Builds one office of about ``--patients`` patients (families, balances, the practice tables:
appointments over ~20 months, their procedures, insurance) into a scratch folder with the
sandbox's own generator, as a sandbox does on the first request to an office, and reports the
wall and CPU time, the row counts and the file size. Best of ``--repeat`` rounds.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
import time
from datetime import date
from typing import Any

from integrations.devtools.bench import common
from odsandbox.config import OfficeSpec
from odsandbox.data import BuildParams, build_office_db

# Guarantors with a balance -> patients: 1.25 families each (a quarter more owe nothing) of
# 2.38 people on average (data._family_sizes).
PATIENTS_PER_GUARANTOR = 1.25 * 2.38
_COUNTED = ("patient", "appointment", "procedurelog", "inssub", "patplan", "operatory")


def sandbox_build_run(
    patients: int, clinics: int, say: common.Say, repeat: int = 1
) -> dict[str, Any]:
    """Time ``repeat`` builds of one office database; the fastest round counts."""
    spec = OfficeSpec("Bench Office", guarantors=max(1, round(patients / PATIENTS_PER_GUARANTOR)),
                      clinics=clinics)  # fmt: skip
    folder = tempfile.mkdtemp(prefix="odportal-bench-sandbox-")
    rounds: list[tuple[float, float]] = []
    try:
        for attempt in range(1, repeat + 1):
            path = os.path.join(folder, f"office-{attempt}.sqlite")
            params = BuildParams(spec, f"bench:{attempt}", ("benchkey",), date.today(), 0.25)
            wall, cpu = time.perf_counter(), time.process_time()
            build_office_db(path, params)
            rounds.append((time.perf_counter() - wall, time.process_time() - cpu))
            say(f"round {attempt}: {rounds[-1][0]:.2f}s wall, {rounds[-1][1]:.2f}s CPU")
        counts = _counts(path)
        size_mb = round(os.path.getsize(path) / 1e6, 1)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    best = min(rounds)
    return {"patients": counts["patient"], "clinics": clinics, "wall_s": round(best[0], 2),
            "cpu_s": round(best[1], 2), "rows": counts, "file_mb": size_mb}  # fmt: skip


def _counts(path: str) -> dict[str, int]:
    """Rows of the tables that grow with the office."""
    conn = sqlite3.connect(path)
    try:
        return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in _COUNTED}  # noqa: S608 - constant names
    finally:
        conn.close()
