"""Retry policy shared by every app's Celery tasks."""

from __future__ import annotations

import psycopg
from django.db import InterfaceError, OperationalError

# A database restart or failover reaches a task as one of these (psycopg's own where Django
# does not wrap the call, e.g. COPY): the task is retried with backoff, never "raised
# unexpected".
DB_ERRORS = (OperationalError, InterfaceError, psycopg.OperationalError, psycopg.InterfaceError)
# Short periodic tasks (sweeps, purges, evaluations): acked late, a few retries.
PERIODIC_TASK = {"acks_late": True, "autoretry_for": DB_ERRORS, "retry_backoff": 2,
                 "max_retries": 5}  # fmt: skip
