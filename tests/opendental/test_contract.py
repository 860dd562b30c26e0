"""The client against a live sandbox over real HTTP (CONTRACT-sandbox-client.md)."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections import Counter
from datetime import date, datetime
from decimal import Decimal

import httpx
import pytest

from integrations.offices.services.aging import recipe
from integrations.opendental import (
    BadRequest,
    BadResponse,
    DeveloperPortalClient,
    EConnectorDown,
    KeyRejected,
    LocalPacer,
    NotFound,
    NullPacer,
    OpenDentalClient,
    PermissionMissing,
    QueryError,
    QueryNotReadOnly,
    RedisPacer,
    ServerError,
    ServerTimeout,
    Throttled,
    Timeout,
    Unreachable,
)
from tests.helpers import (
    CONTRACT_OFFICES,
    CONTRACT_SCALE,
    PAID,
    contract_office,
    set_faults,
    stats_for,
)

# patients/Simple leaves out deleted patients (PatStatus 4 in the patient table).
PATIENTS_LISTED_SQL = "SELECT COUNT(*) AS n FROM patient WHERE PatStatus <> 4"
REDIS_URL = "redis://127.0.0.1:6379/15"


def make_client(sandbox, name, **kwargs):
    kwargs.setdefault("throttle_scale", CONTRACT_SCALE)
    kwargs.setdefault("backoff_base_s", 0.01)
    kwargs.setdefault("backoff_max_s", 0.1)
    spec = contract_office(sandbox, name)
    kwargs.setdefault("permissions", frozenset(spec["permissions"]))
    kwargs.setdefault("mode", next(o.mode for o in CONTRACT_OFFICES if o.name == name))
    return OpenDentalClient(
        sandbox.base_url, sandbox.manifest["developer_key"], spec["customer_key"], **kwargs
    )


@pytest.fixture(scope="module")
def paid(sandbox):
    return make_client(sandbox, "Paid Clinics")


@pytest.fixture
def faulty(sandbox, http):
    set_faults(sandbox, http, "Faulty", reset=True)
    yield make_client(sandbox, "Faulty")
    set_faults(sandbox, http, "Faulty", reset=True)


def aging_totals(sandbox, http, name):
    key = contract_office(sandbox, name)["customer_key"]
    return http.get(f"{sandbox.control_url}/offices/{key}/aging-totals").json()


def count_rows(client, sql):
    return client.short_query(sql)[0]["n"]


def _day(value: str) -> date:
    """A ShortQuery date ("2000-12-03T00:00:00") as a date."""
    return date.fromisoformat(value[:10])


# --- every endpoint ---


def test_security_perms_report_string_booleans_as_bools(paid):
    perms = {p.permission: p.has_permission for p in paid.security_perms()}
    assert perms["ApiReadAll"] is True
    assert perms["ApiQueries"] is True
    assert perms.get("ApiEnterprise", False) is False


def test_granted_permissions_set_the_pacing_interval(sandbox):
    client = make_client(sandbox, "Read Only", permissions=None)
    assert client.interval_s == 5.0 * CONTRACT_SCALE
    assert client.granted_permissions() == frozenset({"ApiReadAll"})
    assert client.interval_s == 5.0 * CONTRACT_SCALE
    enterprise = make_client(sandbox, "Enterprise", permissions=None)
    assert "ApiEnterprise" in enterprise.granted_permissions()
    assert enterprise.interval_s == 0.5 * CONTRACT_SCALE


def test_preferences_list_all_across_pages_and_look_up_one(paid):
    prefs = paid.preferences()
    names = [p.pref_name for p in prefs]
    assert len(names) == len(set(names))
    assert "DateLastAging" in names
    assert date.fromisoformat(paid.preference("DateLastAging"))
    assert [p.pref_name for p in paid.preferences("PracticeTitle")] == ["PracticeTitle"]
    assert paid.preference("PracticeTitle") == "Paid Clinics"
    assert paid.preference("NoSuchPreference") is None


def test_clinics_are_listed_or_empty_when_the_office_has_none(sandbox, paid):
    clinics = paid.clinics()
    assert sorted(c.clinic_num for c in clinics) == sorted(
        contract_office(sandbox, "Paid Clinics")["clinic_nums"]
    )
    assert all(not c.is_hidden and c.description for c in clinics)
    assert make_client(sandbox, "Read Only").clinics() == []


def test_providers_parse_with_booleans_and_filters(paid):
    providers = paid.providers()
    assert providers
    # IsHidden arrives as "true"/"false" and must read as the provider table says (one is).
    table = paid.short_query("SELECT ProvNum, IsHidden FROM provider")
    assert {p.prov_num: p.is_hidden for p in providers} == {
        r["ProvNum"]: r["IsHidden"] == 1 for r in table
    }
    assert all(type(p.is_hidden) is bool for p in providers)
    assert all(p.server_date_time is not None for p in providers)
    assert all(p.prov_color is not None and p.birthdate != date(1, 1, 1) for p in providers)
    clinic_num = paid.clinics()[0].clinic_num
    at_clinic = paid.providers(clinic_num=clinic_num)
    assert {p.prov_num for p in at_clinic} <= {p.prov_num for p in providers if not p.is_hidden}
    # With ClinicNum the rows carry "serverDateTime": "" (the doc's example): no time, no error.
    assert at_clinic and all(p.server_date_time is None for p in at_clinic)
    with pytest.raises(NotFound):
        paid.providers(clinic_num=999)
    assert paid.providers(date_t_stamp=datetime(2999, 1, 1)) == []


def test_patients_simple_pages_return_every_patient_exactly_once(paid):
    patients = list(paid.patients_simple())
    nums = [p.pat_num for p in patients]
    assert len(nums) > 100  # more than one page
    assert len(nums) == len(set(nums))
    assert nums == sorted(nums)
    assert len(nums) == count_rows(paid, PATIENTS_LISTED_SQL)
    assert all(isinstance(p.est_balance, Decimal) for p in patients)
    assert all(p.server_date_time is not None for p in patients)
    # Birthdates read as the patient table holds them ("0001-01-01", no date, as None).
    sql = "SELECT PatNum, Birthdate FROM patient WHERE PatStatus <> 4 ORDER BY PatNum"
    stored = [r for page in paid.short_query_pages(sql) for r in page]
    assert [(p.pat_num, p.birthdate) for p in patients] == [
        (r["PatNum"], None if r["Birthdate"].startswith("0001-01-01") else _day(r["Birthdate"]))
        for r in stored
    ]


def test_patients_simple_pages_with_a_smaller_page_size_give_the_same_rows(paid):
    small = [p.pat_num for p in paid.patients_simple(page_size=37)]
    assert small == [p.pat_num for p in paid.patients_simple()]


def test_patients_simple_filters_by_open_dental_parameter_names(paid):
    guarantors = list(paid.patients_simple(Guarantor=paid.patient(1).guarantor))
    assert guarantors
    assert len({p.guarantor for p in guarantors}) == 1
    by_clinic = list(paid.patients_simple(ClinicNum=paid.clinics()[0].clinic_num))
    assert by_clinic and len({p.clinic_num for p in by_clinic}) == 1


def test_patient_by_pat_num_and_not_found(paid):
    first = next(iter(paid.patients_simple()))
    patient = paid.patient(first.pat_num)
    assert patient.pat_num == first.pat_num
    assert patient.l_name == first.l_name
    with pytest.raises(NotFound) as info:
        paid.patient(99_999_999)
    assert info.value.permanent


def _recipe_rows(client):
    """The aging recipe's ShortQuery pages, parsed as the product parses them."""
    return [
        recipe.row_from_query(r)
        for page in client.short_query_pages(recipe.AGING_SQL)
        for r in page
    ]


def test_family_aging_matches_the_stored_guarantor_aging(paid):
    row = _recipe_rows(paid)[0]
    aging = paid.family_aging(row.pat_num)
    assert aging.bal_0_30 == row.bal_0_30
    assert aging.bal_over_90 == row.bal_over_90
    assert aging.ins_est == row.ins_est


def test_aging_report_pages_cover_every_guarantor_once(paid):
    rows = list(paid.aging_report())
    nums = [r.pat_num for r in rows]
    assert len(nums) == len(set(nums))
    assert len(nums) > 100
    clinic_num = paid.clinics()[0].clinic_num
    by_clinic = list(paid.aging_report(date_as_of=date.today(), clinic_num=clinic_num))
    assert 0 < len(by_clinic) < len(rows)


def test_short_query_pages_total_the_sandbox_aging_totals(sandbox, http, paid):
    rows = _recipe_rows(paid)
    expected = aging_totals(sandbox, http, "Paid Clinics")["all"]
    assert len(rows) == len({r.pat_num for r in rows}) == expected["guarantors"]
    assert len(rows) > 100
    assert sum(r.bal_0_30 for r in rows) == Decimal(str(expected["Bal_0_30"]))
    assert sum(r.bal_over_90 for r in rows) == Decimal(str(expected["BalOver90"]))
    assert sum(r.bal_total for r in rows) == Decimal(str(expected["BalTotal"]))


def test_guarantor_aging_per_clinic_matches_the_clinic_totals(sandbox, http, paid):
    totals = aging_totals(sandbox, http, "Paid Clinics")["clinics"]
    every = _recipe_rows(paid)
    for clinic_num, expected in totals.items():
        rows = [r for r in every if r.clinic_num == int(clinic_num)]
        assert len(rows) == expected["guarantors"]
        assert sum(r.ins_est for r in rows) == Decimal(str(expected["InsEst"]))


def test_short_query_returns_iso_t_datetimes_and_plain_numbers(paid):
    rows = paid.short_query("SELECT PatNum, DateTStamp FROM patient ORDER BY PatNum LIMIT 3")
    assert len(rows) == 3
    assert isinstance(rows[0]["PatNum"], int)
    assert "T" in rows[0]["DateTStamp"]


# --- every error class ---


def test_write_sql_is_query_not_read_only(paid):
    with pytest.raises(QueryNotReadOnly) as info:
        paid.short_query("DELETE FROM patient")
    assert info.value.status == 401 and info.value.permanent


def test_bad_sql_is_a_query_error(paid):
    with pytest.raises(QueryError) as info:
        paid.short_query("SELEC nothing")
    assert info.value.status == 400 and info.value.permanent


def test_a_read_all_key_lacks_the_queries_permission(sandbox):
    client = make_client(sandbox, "Read Only")
    with pytest.raises(PermissionMissing) as info:
        client.short_query("SELECT 1 AS n")
    assert info.value.permission == "ApiQueries"


def test_an_unknown_customer_key_is_rejected(sandbox):
    client = OpenDentalClient(
        sandbox.base_url, sandbox.manifest["developer_key"], "NoSuchKey0000000", min_interval_s=0
    )
    with pytest.raises(KeyRejected) as info:
        client.clinics()
    assert "NoSuchKey" not in str(info.value)


def test_a_disabled_key_is_rejected_permanently(sandbox, http, faulty):
    set_faults(sandbox, http, "Faulty", key_status="DisabledByCustomer")
    with pytest.raises(KeyRejected) as info:
        faulty.clinics()
    assert "DisabledByCustomer" in info.value.body
    set_faults(sandbox, http, "Faulty", key_status="Enabled")
    assert faulty.clinics() == []


def test_econnector_down_is_transient_and_retried(sandbox, http, faulty):
    set_faults(sandbox, http, "Faulty", econnector_down=True)
    calls = []
    faulty.on_request = lambda *args: calls.append(args)
    with pytest.raises(EConnectorDown) as info:
        faulty.clinics()
    assert info.value.transient
    assert len(calls) == 1 + faulty.max_retries


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("status_500", ServerError),
        ("malformed_json", BadResponse),
        ("truncated_json", BadResponse),
        ("html_error", ServerError),
        ("status_429", Throttled),
    ],
)
def test_response_faults_map_to_transient_errors(sandbox, http, faulty, fault, error):
    set_faults(sandbox, http, "Faulty", **{fault: True})
    with pytest.raises(error) as info:
        faulty.without_retries().security_perms()
    assert info.value.transient


def test_a_one_off_fault_is_absorbed_by_a_retry(sandbox, http, faulty):
    set_faults(sandbox, http, "Faulty", truncated_json=True, times=1)
    assert {p.permission for p in faulty.security_perms()} >= {"ApiReadAll"}


def test_throttled_fault_carries_retry_after(sandbox, http, faulty):
    set_faults(sandbox, http, "Faulty", status_429=True)
    with pytest.raises(Throttled) as info:
        faulty.without_retries().clinics()
    assert info.value.retry_after == 1.0


def test_gateway_timeout_is_server_timeout(sandbox, http, faulty):
    set_faults(sandbox, http, "Faulty", timeout=True, timeout_immediate=True)
    with pytest.raises(ServerTimeout) as info:
        faulty.without_retries().clinics()
    assert info.value.status == 504


def test_a_slow_office_is_a_client_timeout(sandbox, http, faulty):
    set_faults(sandbox, http, "Faulty", latency_ms=1500)
    faulty.timeout = httpx.Timeout(5, read=0.3)
    with pytest.raises(Timeout):
        faulty.without_retries().clinics()


def test_an_unknown_parameter_is_a_permanent_bad_request(paid):
    with pytest.raises(BadRequest) as info:
        paid.request("GET", "/patients/Simple", params={"page": 2})
    assert "'page' is not a valid parameter." in info.value.body
    assert info.value.permanent


def test_an_unknown_route_is_not_found(paid):
    with pytest.raises(NotFound):
        paid.request("GET", "/no-such-resource")


def test_a_closed_port_is_unreachable():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = OpenDentalClient(
        f"http://127.0.0.1:{port}/api/v1", "Dev0123456789ab", "Cust0123456789ab",
        min_interval_s=0, max_retries=1, backoff_max_s=0.01,
    )  # fmt: skip
    with pytest.raises(Unreachable):
        client.clinics()


# --- throttle ---


def test_a_paced_client_never_draws_a_429(sandbox, http):
    http.post(f"{sandbox.control_url}/stats/reset")
    client = make_client(sandbox, "Throttle", pacer=LocalPacer(), max_retries=0)
    for _ in range(30):
        client.clinics()
    assert stats_for(sandbox, http, "Throttle") == {"requests": 30, "violations": 0}
    assert http.get(f"{sandbox.control_url}/stats").json()["throttle_violations"] == 0


def test_clients_in_threads_sharing_a_redis_pacer_never_draw_a_429(sandbox, http):
    redis = pytest.importorskip("redis")
    prefix = f"test:pace:{uuid.uuid4().hex}:"
    http.post(f"{sandbox.control_url}/stats/reset")
    errors = []

    def work():
        pacer = RedisPacer(redis.Redis.from_url(REDIS_URL), prefix=prefix)
        client = make_client(sandbox, "Paid Clinics", pacer=pacer, max_retries=0)
        try:
            for _ in range(15):
                client.clinics()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert stats_for(sandbox, http, "Paid Clinics") == {"requests": 45, "violations": 0}


def test_two_paced_clients_sharing_a_pacer_never_draw_a_429(sandbox, http):
    pacer = LocalPacer()
    a = make_client(sandbox, "Enterprise", pacer=pacer, max_retries=0)
    b = make_client(sandbox, "Enterprise", pacer=pacer, max_retries=0)
    for _ in range(15):
        a.clinics()
        b.clinics()
    assert stats_for(sandbox, http, "Enterprise").get("violations", 0) == 0


@pytest.mark.parametrize("pacer_kind", ["local", "redis"])
def test_a_client_that_outsleeps_its_slot_never_crowds_the_next_clients(sandbox, http, pacer_kind):
    # Two clients of one key (a health poll and an aging refresh, say): A books a slot, B the
    # one after it; A's wait is outslept (a busy loop, the GIL) until B's slot is near. Sent
    # then, A and B reach Open Dental together; A confirms its slot first and goes after B.
    if pacer_kind == "local":
        pacer = LocalPacer()
    else:
        redis = pytest.importorskip("redis")
        pacer = RedisPacer(redis.Redis.from_url(REDIS_URL), prefix=f"test:pace:{uuid.uuid4()}:")
    b_client = make_client(sandbox, "Paid Clinics", pacer=pacer, max_retries=0)
    oversleep = pacer.padded(CONTRACT_SCALE)  # A wakes at B's slot
    booked = threading.Event()

    def late_sleep(wait):
        booked.set()
        time.sleep(wait + oversleep)

    a_client = make_client(sandbox, "Paid Clinics", pacer=pacer, max_retries=0, sleep=late_sleep)
    http.post(f"{sandbox.control_url}/stats/reset")
    for _ in range(4):
        b_client.clinics()
        pacer.reserve(b_client.pace_key_id, CONTRACT_SCALE)  # a slot taken (so A has to wait)
        booked.clear()
        a = threading.Thread(target=a_client.clinics)  # books the slot after B's and sleeps
        a.start()
        assert booked.wait(5)
        b_client.clinics()  # books the slot after A's
        a.join()
    assert stats_for(sandbox, http, "Paid Clinics") == {"requests": 12, "violations": 0}


def test_an_unpaced_client_gets_throttled(sandbox, http):
    client = make_client(sandbox, "Read Only", pacer=NullPacer(), max_retries=0)
    with pytest.raises(Throttled) as info:
        for _ in range(5):
            client.clinics()
    # Whole seconds (RFC 9110), rounded up: the 0.1 s interval's rest reads as 1.
    assert info.value.retry_after == 1.0
    time.sleep(5.0 * CONTRACT_SCALE)  # let the key's window pass for later tests
    http.post(f"{sandbox.control_url}/stats/reset")


def test_an_unpaced_client_recovers_by_honouring_retry_after(sandbox, http):
    calls = Counter()
    client = make_client(
        sandbox, "Read Only", pacer=NullPacer(), on_request=lambda m, p, s, e: calls.update([s])
    )
    for _ in range(3):
        client.clinics()
    assert calls[200] == 3
    http.post(f"{sandbox.control_url}/stats/reset")


def test_service_mode_is_unthrottled_and_pages_by_a_thousand(sandbox):
    client = make_client(sandbox, "Service Mode", pacer=NullPacer(), max_retries=0)
    assert client.interval_s == 0
    patients = list(client.patients_simple())
    assert len(patients) == count_rows(client, PATIENTS_LISTED_SQL)
    for _ in range(10):
        client.clinics()


# --- the public test pair and the developer portal ---


def test_the_public_test_key_pair_works(sandbox):
    client = OpenDentalClient(
        sandbox.base_url, "NFF6i0KrXrxDkZHt", "VzkmZEaUWOjnQX2z",
        throttle_scale=CONTRACT_SCALE, permissions=frozenset(PAID),
    )  # fmt: skip
    assert len(client.clinics()) == 2


def test_the_developer_portal_lists_creates_and_toggles_keys(sandbox):
    manifest = sandbox.manifest
    portal = DeveloperPortalClient(
        sandbox.base_url, manifest["developer_key"], manifest["developer_portal_key"]
    )
    keys = portal.api_keys()
    assert {k.customer_key for k in keys} >= {o["customer_key"] for o in manifest["offices"]}
    created = portal.api_key_create()
    assert created.customer_key not in {k.customer_key for k in keys}
    assert created.date_disabled is None
    target = contract_office(sandbox, "Enterprise")["customer_key"]
    portal.api_key_set_status(target, "DisabledByDeveloper")
    status = {k.customer_key: k.key_status for k in portal.api_keys()}
    assert status[target] == "DisabledByDeveloper"
    client = make_client(sandbox, "Enterprise", max_retries=0)
    with pytest.raises(KeyRejected):
        client.clinics()
    portal.api_key_set_status(target, "Enabled")
    client.clinics()


def test_the_portal_creates_a_key_with_a_dev_ref_id_and_updates_it(sandbox):
    manifest = sandbox.manifest
    portal = DeveloperPortalClient(
        sandbox.base_url, manifest["developer_key"], manifest["developer_portal_key"]
    )
    created = portal.api_key_create(dev_ref_id="OFF-1")
    portal.api_key_update(created.customer_key, dev_ref_id="OFF-2")
    found = portal.api_key_find(created.customer_key)
    assert created.dev_ref_id == "OFF-1" and not created.is_assigned
    assert found is not None and (found.dev_ref_id, found.key_status) == ("OFF-2", "Enabled")
    assert portal.api_key_find("NoSuchKey0000000") is None


def test_the_portal_rejects_a_wrong_portal_key(sandbox):
    portal = DeveloperPortalClient(
        sandbox.base_url, sandbox.manifest["developer_key"], "WrongPortalKey00", max_retries=0
    )
    with pytest.raises(KeyRejected):
        portal.api_keys()
