"""``manage.py bench alerts`` at a tiny size: incidents open for exactly the problem offices,
the figures have their shape, the bench's rows are gone afterwards (no timing assertions)."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command

from integrations.accounts.models import DeveloperAccount
from integrations.alerts.models import Channel, Incident

pytestmark = pytest.mark.django_db(transaction=True)


def test_alerts_bench_opens_one_incident_per_problem_office_and_cleans_up():
    out = StringIO()
    call_command("bench", "alerts", "--offices", "200", "--rounds", "2", stdout=out)
    figures = json.loads(out.getvalue().splitlines()[-1])
    assert figures["verified"] is True
    assert figures["first_round"]["opened"] > 0
    # Two channels: every opened incident plans two messages.
    assert figures["first_round"]["planned"] == 2 * figures["first_round"]["opened"]
    assert figures["churn_round"]["opened"] > 0 and figures["churn_round"]["resolved"] > 0
    assert {"cpu_s", "wall_s", "queries"} <= set(figures["steady_round"])
    assert not DeveloperAccount.objects.filter(company_name="odportal bench pages").exists()
    assert not Incident.objects.exists() and not Channel.objects.exists()
