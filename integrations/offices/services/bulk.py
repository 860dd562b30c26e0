"""Bulk actions on offices picked on the office list: poll, refresh aging, pause, resume, export.

A request stores the job and one item per office (``bulk_job_create``: the offices of one
account, audited once there) and a worker runs it (``bulk_job_run``) an office at a time
through the per-office service each action names, writing the item's outcome and the job's
counters as it goes: a retried, duplicated or resumed task finds the offices already handled
and carries on at the first one still waiting. The per-office services are themselves
idempotent (an active poll is not queued twice; a paused office is not paused again), so an
office handled just before a crash, and handled again, changes nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from itertools import batched

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import DatabaseError, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from integrations.accounts.services.audit import audit_record
from integrations.offices.exports import office_csv_row
from integrations.offices.models import (
    BulkAction,
    BulkJob,
    BulkJobItem,
    BulkOutcome,
    JobState,
    Office,
    PollKind,
    current_key_last4,
)
from integrations.offices.services import jobs
from integrations.offices.services import offices as offices_service
from integrations.offices.services.polling import dispatch
from odportal.celery import app

logger = logging.getLogger(__name__)

# Sent by name, so this module never imports ``tasks`` (which imports it).
BULK_TASK = "offices.bulk_job"
ACTIVE_STATES = (JobState.QUEUED, JobState.RUNNING)
ITEMS_PER_READ = 200
WORKERS_DOWN = "Workers unavailable: the job could not be queued. Start the workers and retry."
NOTHING_PICKED = "Pick at least one office you may act on."
ONE_ACCOUNT = (
    "The offices picked belong to %d developer accounts: filter the list by account and act on "
    "one account at a time."
)

Handler = Callable[[Office, AbstractBaseUser], tuple[str, str, list]]


def bulk_job_create(
    *,
    actor: AbstractBaseUser,
    action: str,
    offices: QuerySet[Office],
    selection: str,
    send: bool = True,
) -> BulkJob:
    """Store a bulk job over ``offices`` (in their order), all of one account, audit
    ``bulk.<action>`` once, and send its task once the transaction commits.

    ``offices`` must already be the ones the actor may act on. ValidationError if there are
    none, or if they belong to more than one account."""
    if action not in BulkAction.values:
        raise ValidationError({"action": ["Unknown action."]})
    rows = list(offices.values_list("pk", "account_id"))
    accounts = {account_id for _pk, account_id in rows}
    if not rows:
        raise ValidationError({NON_FIELD_ERRORS: [NOTHING_PICKED]})
    if len(accounts) > 1:
        raise ValidationError({NON_FIELD_ERRORS: [ONE_ACCOUNT % len(accounts)]})
    with transaction.atomic():
        job = BulkJob.objects.create(
            account_id=accounts.pop(), action=action, requested_by=actor,
            selection=selection[:300], total=len(rows),
        )  # fmt: skip
        for chunk in batched(enumerate(rows, start=1), 1000):
            BulkJobItem.objects.bulk_create(
                BulkJobItem(job=job, number=n, office_id=pk) for n, (pk, _account) in chunk
            )
        detail = {"offices": job.total, "selection": job.selection}
        audit_record(
            account=job.account, actor=actor, action=f"bulk.{action}", obj=job, detail=detail
        )
    if send:
        transaction.on_commit(lambda: bulk_job_send(job.pk))
    return job


def bulk_job_send(job_id: int) -> None:
    """Hand a queued job to the workers; if the broker is away the job fails, saying so."""
    try:
        with dispatch.broker_producer() as producer:
            app.send_task(BULK_TASK, args=[job_id], retry=False, producer=producer)
    except Exception as exc:  # kombu raises many types for "broker down"
        logger.warning("could not queue bulk job %s: %s", job_id, type(exc).__name__)
        _job_end(job_id, JobState.FAILED, error=WORKERS_DOWN)


def bulk_jobs_resend_stale(*, limit: int = 100) -> int:
    """Send again the jobs whose worker stopped or whose message was lost; each carries on at
    its first office still waiting. Raises if the broker is away."""
    cutoff = timezone.now() - timedelta(seconds=settings.JOB_STALE_AFTER_S)
    stale = BulkJob.objects.filter(
        Q(state=JobState.RUNNING, heartbeat_at__lt=cutoff)
        | Q(state=JobState.QUEUED, queued_at__lt=cutoff)
    )
    job_ids = list(stale.order_by("pk").values_list("pk", flat=True)[:limit])
    for job_id in job_ids:
        app.send_task(BULK_TASK, args=[job_id])
    return len(job_ids)


def _offices(office_ids: list[int]) -> dict[int, Office]:
    """The offices of a read of items, by id, with what the handlers (and the CSV) need."""
    offices = Office.objects.filter(pk__in=office_ids).select_related("account")
    return {o.pk: o for o in offices.annotate(key_last4=current_key_last4())}


class _ClaimLost(Exception):
    """Another worker took the job over (ours looked stale): stop without counting more."""


def bulk_job_run(job_id: int, *, claimer: str) -> None:
    """Handle the job's waiting offices one at a time, then close it. A finished job, or one a
    live worker holds, is left alone."""
    job = _job_claim(job_id, claimer)
    if job is None:
        return
    handler = HANDLERS[job.action]
    try:
        while ids := list(
            job.items.filter(outcome=BulkOutcome.PENDING)
            .order_by("number")
            .values_list("pk", "office_id")[:ITEMS_PER_READ]
        ):
            offices = _offices([office_id for _pk, office_id in ids])
            for item_id, office_id in ids:
                _item_handle(job, item_id, offices.get(office_id), handler, claimer)
    except _ClaimLost:
        return
    _job_end(job.pk, JobState.DONE, claimer=claimer)


def _item_handle(
    job: BulkJob, item_id: int, office: Office | None, handler: Handler, claimer: str
) -> None:
    """One office through the action's service, then its outcome and the job's counters."""
    if office is None:  # deleted since the job was made
        outcome, message, row = BulkOutcome.SKIPPED, "The office no longer exists.", []
    else:
        try:
            outcome, message, row = handler(office, job.requested_by)
        except ValidationError as exc:
            outcome, message, row = BulkOutcome.FAILED, " ".join(exc.messages), []
        except (DatabaseError, SoftTimeLimitExceeded):
            raise  # the job stays claimed: a retry, or the stale-job beat, resumes it here
        except Exception:  # one office's surprise must not stop the others
            logger.exception("bulk job %s: office %s failed", job.pk, office.pk)
            outcome, message, row = BulkOutcome.FAILED, "Unexpected error (logged).", []
    with transaction.atomic():
        held = BulkJob.objects.filter(pk=job.pk, state=JobState.RUNNING, claimed_by=claimer)
        counted = held.update(  # each outcome ("done", "skipped", "failed") names its counter
            heartbeat_at=timezone.now(), processed=F("processed") + 1, **{outcome: F(outcome) + 1}
        )
        if counted != 1:
            raise _ClaimLost
        BulkJobItem.objects.filter(pk=item_id).update(
            outcome=outcome, message=message[:300], row=row
        )


def _job_claim(job_id: int, claimer: str) -> BulkJob | None:
    """The job claimed (``jobs.job_claim``), or None; one attempt too many fails it."""
    job = jobs.job_claim(BulkJob, job_id, claimer, related=("requested_by",))
    if job is None:
        return None
    if jobs.job_exhausted(job):
        error = f"Gave up after {job.processed} offices and {job.attempts - 1} attempts."
        _job_end(job.pk, JobState.FAILED, error=error)
        return None
    return job


def _job_end(job_id: int, state: str, *, error: str = "", claimer: str = "") -> None:
    """Close an unfinished job once (a stale copy of the task closes nothing)."""
    unfinished = BulkJob.objects.filter(pk=job_id, state__in=ACTIVE_STATES)
    if claimer:
        unfinished = unfinished.filter(claimed_by=claimer)
    unfinished.update(state=state, error=error, finished_at=timezone.now())


# --- one office, per action: (outcome, why, CSV row) -----------------------------------------


def _poll(kind: str) -> Handler:
    def handle(office: Office, actor: AbstractBaseUser) -> tuple[str, str, list]:
        queued, why = dispatch.office_poll_now(office=office, kind=kind, actor=actor)
        if queued:
            return BulkOutcome.DONE, "Queued.", []
        if why:
            return BulkOutcome.FAILED, why, []
        return BulkOutcome.SKIPPED, f"{PollKind(kind).label} already queued or running.", []

    return handle


def _polling(enabled: bool) -> Handler:
    def handle(office: Office, actor: AbstractBaseUser) -> tuple[str, str, list]:
        if office.polling_enabled == enabled:
            return BulkOutcome.SKIPPED, f"Polling was already {_ON_OFF[enabled]}.", []
        # The bulk job's one audit event stands for every office's change.
        offices_service.office_update(
            office=office, actor=actor, audited=False, polling_enabled=enabled
        )
        return BulkOutcome.DONE, f"Polling {_ON_OFF[enabled]}.", []

    return handle


def _export(office: Office, actor: AbstractBaseUser) -> tuple[str, str, list]:
    # Stored as text: the job's CSV is the office list's columns as they were at the export.
    return BulkOutcome.DONE, "", [str(cell) for cell in office_csv_row(office)]


_ON_OFF = {True: "on", False: "paused"}
HANDLERS: dict[str, Handler] = {
    BulkAction.POLL: _poll(PollKind.HEALTH),
    BulkAction.AGING: _poll(PollKind.AGING),
    BulkAction.PAUSE: _polling(False),
    BulkAction.RESUME: _polling(True),
    BulkAction.EXPORT: _export,
}
