"""``bench alerts``: what evaluating incidents costs per sweep over a large fleet.

The fleet is ``bench pages``'s seeded one (N offices of varied statuses, straight into the
database), each problem office past the grace, and the account has two channels. Each round is
what the ``alerts.evaluate`` task does after a sweep, minus sending (``incidents_evaluate``,
then ``notifications_plan``): the first round opens every incident and plans its messages; the
steady rounds find nothing new (the common case); a churn round follows 1% of the fleet
changing (new problems, recoveries). CPU is this process's (``time.process_time``); wall time
includes the database's own work.
"""

from __future__ import annotations

import random
import statistics
import time
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from integrations.alerts.models import Channel, ChannelKind, Delivery, Incident
from integrations.alerts.services import incidents, notifications
from integrations.devtools.bench import common
from integrations.devtools.bench.pages import BENCH_COMPANY, PagesOptions, pages_cleanup, pages_seed
from integrations.offices.models import PROBLEM_STATUSES, Office, OfficeStatus

CHURN = 0.01


@dataclass
class AlertsOptions:
    offices: int = 10_000
    rounds: int = 5
    keep: bool = False
    seed: int = 7


def alerts_run(options: AlertsOptions, say: common.Say) -> dict[str, Any]:
    """Seed, evaluate round by round; ``verified``: one open incident per problem office."""
    try:
        _cleanup()
        pages_seed(PagesOptions(offices=options.offices, guarantors=100), say)
        offices = Office.objects.filter(account__company_name=BENCH_COMPANY)
        offices.filter(status__in=PROBLEM_STATUSES).update(consecutive_failures=3)
        account_id = offices.values_list("account_id", flat=True)[0]
        for kind, target in (
            (ChannelKind.EMAIL, "oncall@bench.example"),
            (ChannelKind.WEBHOOK, "https://hooks.bench.example/odportal"),
        ):
            Channel.objects.create(account_id=account_id, kind=kind, name=kind, target=target)
        problems = offices.filter(status__in=PROBLEM_STATUSES).count()
        say(f"fleet: {offices.count()} offices, {problems} with a problem past the grace")
        first = _round("first", say)
        steady = [_round(f"steady {n + 1}", say) for n in range(options.rounds)]
        _churn(offices, random.Random(options.seed))
        churn = _round("churn", say)
        problems = offices.filter(status__in=PROBLEM_STATUSES).count()
        open_now = Incident.objects.filter(resolved_at__isnull=True, office__in=offices).count()
        verified = open_now == problems and first["opened"] > 0
        return {
            "offices": options.offices,
            "problem_offices": problems,
            "first_round": first,
            "steady_round": {
                "cpu_s": round(statistics.median(r["cpu_s"] for r in steady), 4),
                "wall_s": round(statistics.median(r["wall_s"] for r in steady), 4),
                "queries": _queries(),
            },
            "churn_round": churn,
            "cpu_s_per_sweep": round(statistics.median(r["cpu_s"] for r in steady), 4),
            "deliveries_planned": Delivery.objects.filter(channel__account_id=account_id).count(),
            "verified": verified,
        }
    finally:
        if not options.keep:
            _cleanup()
            pages_cleanup(say)


def _round(label: str, say: common.Say) -> dict[str, Any]:
    cpu, wall = time.process_time(), time.monotonic()
    now = timezone.now()
    result = incidents.incidents_evaluate(now=now)
    planned = notifications.notifications_plan(now=now)
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    figures = {"cpu_s": round(cpu, 4), "wall_s": round(wall, 4), **result,
               "planned": sum(planned.values())}  # fmt: skip
    say(f"{label}: {figures}")
    return figures


def _queries() -> int:
    """Statements of one more steady round (counted apart: the debug cursor slows them)."""
    with CaptureQueriesContext(connection) as queries:
        now = timezone.now()
        incidents.incidents_evaluate(now=now)
        notifications.notifications_plan(now=now)
    return len(queries)


def _churn(offices, rng: random.Random) -> None:
    """1% of the fleet changes: half new problems past the grace, half recoveries."""
    n = max(2, int(offices.count() * CHURN))
    ok = list(offices.filter(status=OfficeStatus.OK).values_list("pk", flat=True))
    bad = list(offices.filter(status__in=PROBLEM_STATUSES).values_list("pk", flat=True))
    failing = rng.sample(ok, min(len(ok), n // 2))
    recovering = rng.sample(bad, min(len(bad), n - n // 2))
    Office.objects.filter(pk__in=failing).update(
        status=OfficeStatus.ECONNECTOR_DOWN, consecutive_failures=3, status_since=timezone.now()
    )
    Office.objects.filter(pk__in=recovering).update(
        status=OfficeStatus.OK, consecutive_failures=0, status_since=timezone.now()
    )


def _cleanup() -> None:
    """Incidents and channels first: ``pages_cleanup`` removes offices without cascading."""
    bench = Q(account__company_name=BENCH_COMPANY)
    Delivery.objects.filter(Q(channel__account__company_name=BENCH_COMPANY)).delete()
    Incident.objects.filter(bench).delete()
    Channel.objects.filter(bench).delete()
