"""Reads for the import pages: an account's recent imports, one job and its per-row results.

Jobs are read without their stored upload (``payload_encrypted``: up to megabytes, and secret).
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
from django.http import Http404

from integrations.accounts.models import DeveloperAccount
from integrations.offices.models import ImportJob, ImportJobRow

RECENT_IMPORTS = 10


def _jobs() -> QuerySet[ImportJob]:
    return ImportJob.objects.defer("payload_encrypted").select_related("requested_by")


def import_jobs_recent(account: DeveloperAccount) -> list[ImportJob]:
    """The account's latest imports, newest first."""
    return list(_jobs().filter(account=account)[:RECENT_IMPORTS])


def get_import_job_for_user(user: AbstractBaseUser, public_id) -> ImportJob:
    """One import job of the user's accounts; 404 for anything else (no existence leak)."""
    job = (
        _jobs()
        .select_related("account")
        .filter(account__membership__user=user, public_id=public_id)
        .first()
    )
    if job is None:
        raise Http404("No such import.")
    return job


def import_job_rows(job: ImportJob) -> QuerySet[ImportJobRow]:
    """The job's per-row results in file order."""
    return job.rows.order_by("number")
