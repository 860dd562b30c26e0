"""``manage.py bench pages`` at a tiny size: every page answers, the figures have their shape.

No timing assertions (timings belong in the benchmark output, not in tests).
"""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from integrations.accounts.models import DeveloperAccount

pytestmark = pytest.mark.django_db(transaction=True)

PAGES = {
    "overview", "office_list", "office_list_search", "office_list_over90", "office_list_status",
    "office_list_attention", "office_detail", "aging_over90", "aging_deep_page",
    "aging_deep_page_bookmark", "aging_clinic",
}  # fmt: skip


def test_pages_bench_answers_every_page_and_cleans_up(settings):
    settings.ALLOWED_HOSTS = ["testserver"]
    out = StringIO()
    call_command("bench", "pages", "--offices", "30", "--guarantors", "300",
                 "--requests", "3", "--warmup", "1", stdout=out)  # fmt: skip
    figures = json.loads(out.getvalue().strip().splitlines()[-1])
    assert {"offices", "guarantors", "pages", "csv", "csv_rows_per_s"} <= set(figures)
    assert figures["offices"] == 30 and figures["guarantors"] == 300
    assert set(figures["pages"]) == PAGES
    for name, page in figures["pages"].items():
        assert page["status"] == 200, name
        assert {"p50_ms", "p95_ms", "queries"} <= set(page) and page["queries"] > 0, name
    assert figures["csv"]["rows"] == 300 and figures["csv_rows_per_s"] > 0
    assert figures["verified"] is True
    assert not DeveloperAccount.objects.filter(company_name="odportal bench pages").exists()
    assert not get_user_model().objects.filter(username="odportal-bench-pages").exists()
