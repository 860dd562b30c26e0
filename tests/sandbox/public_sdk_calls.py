"""Runs INSIDE the public SDK's own environment (see test_public_sdk.py), never imported by the
project: calls the unchanged opendental-sdk against the sandbox and prints, as one JSON object,
each call group's outcome ({"ok": true} or {"ok": false, "error": "..."}).

Arguments: base URL, developer key, customer key, then optionally the groups to run (default:
all of GROUPS).
"""

import json
import logging
import sys
import traceback
from datetime import date, timedelta

from opendental import OpenDentalClient


def check(condition, what):
    if not condition:
        raise AssertionError(what)


def patients_get(client):
    patient = client.patients.get(1)
    check(patient.id == 1 and patient.last_name, "patients.get(1) has PatNum 1 and a last name")


def patients_list(client):
    patients = client.patients.list(limit=20)
    check(0 < len(patients) <= 20, "patients.list(limit=20) gives 1-20 patients")


def providers_list(client):
    providers = client.providers.list()
    check(providers and all(p.abbreviation for p in providers), "providers.list() has Abbr")
    check(providers[0].prov_num == 1, "providers come in ProvNum order")


def providers_get(client):
    provider = client.providers.get(1)
    check(provider.prov_num == 1 and provider.last_name, "providers.get(1) is provider 1")


def preferences(client):
    pref = client.preferences.get_by_name("DateLastAging")
    check(pref is not None and len(pref.value_string) == 10, "DateLastAging is a date")
    page = client.preferences.list()
    check(page and all(p.pref_name for p in page), "preferences.list() has names")


def appointments(client):
    today = date.today()
    window = client.appointments.list(
        date_start=today - timedelta(days=30), date_end=today + timedelta(days=30)
    )
    check(window, "appointments in the 60 days around today")
    one = client.appointments.get(window[0].apt_num)
    check(one.apt_num == window[0].apt_num, "appointments.get(n) is that appointment")


def queries(client):
    rows = client.queries.short_query("SELECT PatNum, LName FROM patient WHERE PatNum <= 3")
    check([r["PatNum"] for r in rows] == [1, 2, 3], "ShortQuery rows 1-3")


class _Records(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def back_to_back(client):
    # Against a throttled sandbox: the next GET is answered 429. urllib3 (under requests) must
    # wait out its Retry-After; a header it cannot read makes it raise, and the SDK's own retry
    # layer then logs the failure and sleeps its backoff instead.
    records = _Records()
    logging.getLogger("opendental").addHandler(records)
    for _ in range(3):
        check(client.providers.list(), "providers.list() right after another call")
    unread = [m for m in records.messages if "Retry-After" in m]
    check(not unread, f"urllib3 could not read Retry-After: {unread[:1]}")


GROUPS = (
    patients_get, patients_list, providers_list, providers_get, preferences, appointments,
    queries,
)  # fmt: skip
EXTRA = (back_to_back,)


def main():
    base_url, dev, cust, *names = sys.argv[1:]
    client = OpenDentalClient(developer_key=dev, customer_key=cust, base_url=base_url, timeout=20)
    chosen = [g for g in GROUPS + EXTRA if g.__name__ in names] if names else GROUPS
    results = {}
    for group in chosen:
        try:
            group(client)
            results[group.__name__] = {"ok": True}
        except Exception as exc:  # every failure is reported, per group
            tail = traceback.format_exception_only(type(exc), exc)[-1].strip()
            results[group.__name__] = {"ok": False, "error": tail[:500]}
    print(json.dumps(results))


if __name__ == "__main__":
    main()
