"""An integer column of seconds as a duration in a database expression, on every backend."""

from __future__ import annotations

from datetime import timedelta

from django.db import connection
from django.db.models import DurationField, ExpressionWrapper, F, Value


def seconds_column(name: str, times: float = 1) -> ExpressionWrapper:
    """``name`` (integer seconds) x ``times`` as a duration."""
    # SQLite stores durations as integer microseconds and cannot multiply an interval.
    if connection.vendor == "postgresql":
        factor = Value(timedelta(seconds=times))
    else:
        factor = Value(int(times * 1_000_000))
    return ExpressionWrapper(F(name) * factor, output_field=DurationField())
