"""Claiming a background job (an office import, a bulk action): one rule for both kinds.

A job is claimed when it is queued, when its claimer stopped heartbeating, or when the claimer
is the same task delivered again; every claim counts an attempt, so a job that keeps killing
its worker ends instead of looping (``job_exhausted``).
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from integrations.offices.models import JobState


def job_claim[J: models.Model](
    model: type[J], job_id: int, claimer: str, *, related: tuple[str, ...] = ()
) -> J | None:
    """Move the job to running if it is queued, stale, or already ours; the job, else None."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.JOB_STALE_AFTER_S)
    claimable = (
        Q(state=JobState.QUEUED)
        | Q(state=JobState.RUNNING, heartbeat_at__lt=stale)
        | Q(state=JobState.RUNNING, claimed_by=claimer)
    )
    claimed = (
        model.objects.filter(pk=job_id)
        .filter(claimable)
        .update(
            state=JobState.RUNNING,
            claimed_by=claimer,
            heartbeat_at=now,
            started_at=Coalesce("started_at", Value(now)),
            attempts=F("attempts") + 1,
        )
    )
    if claimed != 1:
        return None
    return model.objects.select_related(*related).get(pk=job_id)


def job_exhausted(job: models.Model) -> bool:
    """Whether the claim just made was one attempt too many (the job should fail)."""
    return job.attempts > settings.JOB_MAX_ATTEMPTS
