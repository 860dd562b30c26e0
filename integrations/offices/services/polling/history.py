"""Bounded poll history: old PollRun rows are removed in small batches.

At a 5-minute health interval every office writes 288 runs a day; without pruning the table
grows without end. What the pages read stays: active runs are never touched, each office keeps
its latest run of each kind however old (a paused office still shows when it last polled),
failures are kept longer than successes (they explain a status), and the status history and
aging snapshots are separate tables with their own retention.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from integrations.offices.models import PollRun, RunOutcome


def _prunable(now: datetime):
    """Finished runs past their retention that a newer run of the same office and kind follows."""
    ok_cutoff = now - timedelta(days=settings.POLL_RUN_RETENTION_DAYS)
    failed_cutoff = now - timedelta(days=settings.POLL_RUN_FAILURE_RETENTION_DAYS)
    newer = PollRun.objects.filter(
        office_id=OuterRef("office_id"), kind=OuterRef("kind"), queued_at__gt=OuterRef("queued_at")
    )
    return PollRun.objects.filter(
        Q(outcome__in=[RunOutcome.OK, RunOutcome.SKIPPED], queued_at__lt=ok_cutoff)
        | Q(outcome=RunOutcome.FAILED, queued_at__lt=failed_cutoff),
        Exists(newer),
    )


def poll_runs_prune(*, now: datetime | None = None, batch: int | None = None) -> int:
    """Delete prunable runs, ``batch`` rows per short transaction; returns how many went.

    Each batch selects primary keys first and deletes by key, so no statement holds locks on
    more than ``batch`` rows and a concurrent poll (which only writes its own active run) never
    waits behind a long delete.
    """
    now = now or timezone.now()
    batch = batch or settings.POLL_RUN_PRUNE_BATCH
    deleted = 0
    while True:
        ids = list(_prunable(now).order_by("queued_at").values_list("pk", flat=True)[:batch])
        if not ids:
            return deleted
        with transaction.atomic():
            # Snapshots point at the run that fetched them (SET NULL); the delete clears that.
            deleted += PollRun.objects.filter(pk__in=ids).delete()[1].get("offices.PollRun", 0)
