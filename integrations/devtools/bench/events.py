"""``bench events``: the API Events receiving URL under batches of 1,000 rows.

A bench office with a current key and an inbox; each POST is a batch of patient-shaped rows (a
distinct body, so none is a replay), sent through ``django.test.Client`` so the whole
middleware stack and the store run, as in ``bench pages``. Figures: rows stored per second of
server time and each POST's p50/p95 in milliseconds. The bench rows are deleted afterwards.
"""

from __future__ import annotations

import json
import secrets
import statistics
import time
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.test import Client
from django.urls import reverse

from integrations.accounts.models import DeveloperAccount
from integrations.apitools.models import EventBatch
from integrations.apitools.services import events
from integrations.devtools.bench import common
from integrations.offices.models import CustomerKey, Office
from odportal.lib import crypto

BENCH_COMPANY = "odportal bench events"


@dataclass
class EventsOptions:
    batches: int = 30
    rows: int = 1000
    warmup: int = 2


def _row(pat_num: int) -> dict[str, Any]:
    """A row shaped like GET /patients/{PatNum}'s (about 1 KiB)."""
    return {
        "PatNum": pat_num, "LName": f"Bench{pat_num}", "FName": "Patient", "MiddleI": "",
        "Preferred": "", "PatStatus": "Patient", "Gender": "Female", "Position": "Single",
        "Birthdate": "1980-05-06", "SSN": "", "Address": f"{pat_num} Main St", "Address2": "",
        "City": "Springfield", "State": "OR", "Zip": "97477", "HmPhone": "(541)555-0100",
        "WkPhone": "", "WirelessPhone": "(541)555-0199", "Guarantor": pat_num,
        "Email": f"p{pat_num}@example.com", "EstBalance": 125.5, "PriProv": 1,
        "priProvAbbr": "DOC1", "BillingType": "Standard Account", "ClinicNum": 0,
        "clinicAbbr": "", "DateFirstVisit": "2019-03-04", "DateTStamp": "2026-12-01 10:00:00",
        "SecDateEntry": "2019-03-04", "PreferConfirmMethod": "None", "PreferContactMethod": "None",
        "TxtMsgOk": "Unknown", "Note": "x" * 200,
    }  # fmt: skip


def _setup() -> tuple[str, str]:
    """The bench office's receiving path and customer key."""
    account = DeveloperAccount.objects.create(
        company_name=BENCH_COMPANY, contact_phone="+1 555 0100", billing_email="bench@example.com",
        billing_address="1 Bench Way", app_description="Benchmark", dev_name="Bench",
    )  # fmt: skip
    office = Office.objects.create(account=account, name="Bench events office", time_zone="UTC")
    key = "bench" + secrets.token_hex(8)
    CustomerKey.objects.create(
        office=office, key_encrypted=crypto.encrypt(key), last4=crypto.last4(key),
        key_hash=crypto.key_hash(key),
    )  # fmt: skip
    inbox = events.event_inbox_for_office(office)
    return reverse("apitools_events_receive", args=[inbox.token]), key


def _cleanup() -> None:
    with transaction.atomic():
        offices = Office.objects.filter(account__company_name=BENCH_COMPANY)
        EventBatch.objects.filter(office__in=offices).delete()
        CustomerKey.objects.filter(office__in=offices).delete()
        offices.delete()
        DeveloperAccount.objects.filter(company_name=BENCH_COMPANY).delete()


def events_run(options: EventsOptions, say: common.Say) -> dict[str, Any]:
    """POST the batches, time each; returns the figures."""
    _cleanup()
    path, key = _setup()
    client = Client(HTTP_HOST="localhost")  # a development host (ALLOWED_HOSTS in debug)
    headers = {"Authorization": key, "Workstation": "BENCH", "Event-Type": "WatchTable: Patient"}
    times: list[float] = []
    try:
        for n in range(options.warmup + options.batches):
            first = n * options.rows + 1
            body = json.dumps([_row(i) for i in range(first, first + options.rows)])
            started = time.perf_counter()
            response = client.post(
                path, body, content_type="application/json", headers=headers, secure=True
            )
            elapsed = time.perf_counter() - started
            if response.status_code != 200:
                raise RuntimeError(f"POST answered {response.status_code}")
            if n >= options.warmup:
                times.append(elapsed)
        say(f"{options.batches} batches of {options.rows} rows, {len(body) // 1024} KiB each")
        stored = EventBatch.objects.filter(office__account__company_name=BENCH_COMPANY).count()
    finally:
        _cleanup()
    return {
        "batches": options.batches, "rows_per_batch": options.rows,
        "rows_per_s": round(options.batches * options.rows / sum(times)),
        "p50_ms": round(statistics.median(times) * 1000, 1),
        "p95_ms": round(statistics.quantiles(times, n=20)[-1] * 1000, 1),
        "verified": stored == options.warmup + options.batches,
    }  # fmt: skip
