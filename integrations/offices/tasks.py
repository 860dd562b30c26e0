"""Celery tasks: thin wrappers that take ids and call one service each.

Every task is idempotent: the poll run (or import job) row is claimed with a conditional UPDATE,
so a retried, duplicated or redelivered message finds nothing to do. Services send these by name
(``polling.dispatch``, ``imports``) and never import this module.
"""

from __future__ import annotations

import logging
import uuid

from celery import shared_task

from integrations.accounts.throttle import login_attempts_prune
from integrations.offices.services import bulk, imports, inventory, portal
from integrations.offices.services.aging import snapshots
from integrations.offices.services.polling import (
    batch,
    dispatch,
    execute,
    health_batch,
    history,
    sweep,
)
from odportal.lib.tasks import DB_ERRORS, PERIODIC_TASK

logger = logging.getLogger(__name__)
ALERTS_EVALUATE_TASK = "alerts.evaluate"

# Tasks that execute poll runs: acked late (a killed worker's message is redelivered, and its
# id lets the copy take back the runs it held), retried while the database is away.
RUN_TASK = {
    "bind": True, "acks_late": True, "autoretry_for": DB_ERRORS, "retry_backoff": 2,
    "retry_backoff_max": 60, "max_retries": 20,
}  # fmt: skip


@shared_task(name=dispatch.POLL_RUN_TASK, **RUN_TASK)
def poll_run_task(self, run_id: int) -> None:
    """Execute one poll run; run it again later when it must wait for a throttle slot or retry."""
    resume_in = execute.run_execute(run_id, claimer=self.request.id or "")
    if resume_in is not None:
        dispatch.run_resume(run_id, countdown=resume_in)


@shared_task(name=dispatch.AGING_BATCH_TASK, **RUN_TASK)
def aging_batch_task(self, run_ids: list[int]) -> None:
    """Execute a batch of daily aging runs; those to resume later go back one task each."""
    # A redelivered or retried message keeps its id, so it takes back the runs it held.
    claimer = self.request.id or uuid.uuid4().hex
    resume = batch.batch_execute(run_ids, claimer=claimer)
    for run_id, countdown in resume.items():
        dispatch.run_resume(run_id, countdown=countdown)


@shared_task(name=dispatch.HEALTH_BATCH_TASK, **RUN_TASK)
def health_batch_task(self, run_ids: list[int], starts: list[float | None] | None = None) -> None:
    """Execute a batch of health polls, each at its due time (``starts``); those to resume
    later go back one task each."""
    claimer = self.request.id or uuid.uuid4().hex
    due = dict(zip(run_ids, starts, strict=True)) if starts is not None else {}
    resume = health_batch.health_batch_execute(run_ids, claimer=claimer, starts=due)
    for run_id, countdown in resume.items():
        dispatch.run_resume(run_id, countdown=countdown)
    if health_batch.health_batch_failed(run_ids):
        # A failure may complete an office's grace: evaluate now, not after the next sweep.
        _alerts_evaluate_send()


@shared_task(name=imports.IMPORT_TASK, **RUN_TASK)
def import_job_task(self, job_id: int) -> None:
    """Import an upload's offices, resuming at the first row an earlier run left unprocessed."""
    # A redelivered or retried message keeps its id, so it takes back the job it held.
    imports.import_job_run(job_id, claimer=self.request.id or uuid.uuid4().hex)


@shared_task(name=bulk.BULK_TASK, **RUN_TASK)
def bulk_job_task(self, job_id: int) -> None:
    """Run a bulk action's offices, resuming at the first one an earlier run left waiting."""
    bulk.bulk_job_run(job_id, claimer=self.request.id or uuid.uuid4().hex)


@shared_task(name="offices.bulk_jobs_resume", **PERIODIC_TASK)
def bulk_jobs_resume_task() -> int:
    """Send again the bulk jobs whose worker stopped or whose message was lost."""
    return bulk.bulk_jobs_resend_stale()


@shared_task(name=portal.KEY_PORTAL_TASK, **RUN_TASK)
def key_portal_task(self, key_id: int) -> None:
    """Carry a key's pending disable or enable to the Developer Portal; a transient fault is
    retried with backoff (bounded by KEY_PORTAL_MAX_ATTEMPTS; a retry re-reads Open Dental
    first, so it never sends twice what was done)."""
    retry_in = portal.key_portal_apply(key_id=key_id, attempt=self.request.retries)
    if retry_in is not None:
        raise self.retry(countdown=retry_in, max_retries=None)


@shared_task(name="offices.key_portal_resume", **PERIODIC_TASK)
def key_portal_resume_task() -> int:
    """Send again the key changes whose portal task was lost."""
    return portal.key_portal_resend_stale()


@shared_task(name="offices.portal_inventories", **PERIODIC_TASK)
def portal_inventories_task() -> int:
    """Send one inventory sync per account with a Developer Portal key."""
    return inventory.portal_inventories_queue()


@shared_task(name=inventory.INVENTORY_TASK, **PERIODIC_TASK)
def portal_inventory_task(account_id: int) -> int:
    """Store what the account's Developer Portal lists (GET /apikeys)."""
    return inventory.portal_inventory_sync(account_id=account_id)


@shared_task(name="offices.imports_resume", **PERIODIC_TASK)
def imports_resume_task() -> int:
    """Send again the imports whose worker stopped or whose message was lost."""
    return imports.import_jobs_resend_stale()


@shared_task(name="offices.sweep", **PERIODIC_TASK)
def sweep_task() -> dict[str, int]:
    """Queue polls for every office that is due."""
    result = sweep.sweep_due_offices()
    logger.info("sweep queued %s", result)
    _alerts_evaluate_send()
    return result


def _alerts_evaluate_send() -> None:
    """Incidents and their notifications in a task of their own (sent by name: offices never
    import integrations.alerts), so polling never waits on them; it is idempotent."""
    try:
        sweep_task.app.send_task(ALERTS_EVALUATE_TASK)
    except Exception:  # noqa: BLE001 - broker away: the sweep's own sends failed too
        logger.warning("could not queue the alerts evaluation", exc_info=True)


@shared_task(name="offices.prune_runs", **PERIODIC_TASK)
def prune_runs_task() -> int:
    """Drop poll runs past their retention, in small batches."""
    return history.poll_runs_prune()


@shared_task(name="offices.prune", **PERIODIC_TASK)
def prune_snapshots_task() -> int:
    """Drop aging snapshots and failed-login records past their retention periods."""
    login_attempts_prune()
    return snapshots.snapshots_prune()
