"""``manage.py bench events`` at a tiny size: every batch is stored, the figures have their
shape, the bench rows are gone afterwards (no timing assertions)."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command

from integrations.accounts.models import DeveloperAccount
from integrations.apitools.models import EventBatch

pytestmark = pytest.mark.django_db(transaction=True)


def test_events_bench_stores_every_batch_and_cleans_up():
    out = StringIO()
    call_command("bench", "events", "--batches", "3", "--rows", "50", "--warmup", "1", stdout=out)
    figures = json.loads(out.getvalue().strip().splitlines()[-1])
    assert figures["verified"] is True and figures["batches"] == 3
    assert figures["rows_per_s"] > 0 and figures["p95_ms"] >= figures["p50_ms"] > 0
    assert not EventBatch.objects.exists()
    assert not DeveloperAccount.objects.filter(company_name="odportal bench events").exists()
