"""Client behaviour the sandbox cannot produce (410, connect errors, exact retry timing),
tested with httpx's built-in MockTransport instead of a live server."""

import json
import time
from datetime import date, datetime
from decimal import Decimal

import httpx
import pytest

from integrations.opendental import (
    BadResponse,
    DeveloperPortalClient,
    EConnectorDown,
    Gone,
    KeyRejected,
    LocalPacer,
    NullPacer,
    OpenDentalClient,
    PaceDeferred,
    ServerError,
    Throttled,
    Timeout,
    Unreachable,
    shared_http_client,
)

DEV = "DevKey0123456789"
CUST = "CustKey012345678"
BASE = "http://od.test/api/v1"


class Recorder:
    """A MockTransport handler answering from a queue of responses or exceptions."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request):
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def make_client(handler, **kwargs):
    slept = []
    kwargs.setdefault("pacer", NullPacer())
    client = OpenDentalClient(
        BASE,
        DEV,
        CUST,
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
        sleep=slept.append,
        **kwargs,
    )
    return client, slept


def ok(data, status=200):
    return httpx.Response(status, json=data)


def test_every_call_sends_the_odfhir_header_and_bare_json_content_type():
    handler = Recorder(ok([{"Permission": "ApiReadAll", "HasPermission": "true"}]))
    client, _ = make_client(handler)
    client.security_perms()
    request = handler.requests[0]
    assert request.method == "GET"
    assert request.headers["Authorization"] == f"ODFHIR {DEV}/{CUST}"
    assert request.headers["Content-Type"] == "application/json"
    assert str(request.url) == BASE + "/securityperms"


def test_query_parameters_are_percent_encoded_with_percent_20_for_spaces():
    from datetime import datetime

    handler = Recorder(ok([]))
    client, _ = make_client(handler)
    list(client.patients_simple(DateTStamp=datetime(2021, 7, 1, 5, 30), LName="O Neil"))
    query = handler.requests[0].url.query.decode()
    assert "DateTStamp=2021-07-01%2005%3A30%3A00" in query
    assert "LName=O%20Neil" in query


def test_transient_errors_are_retried_until_success():
    handler = Recorder(
        httpx.Response(500, text="An unexpected error has occurred."),
        httpx.Response(400, text="eConnector is not running or cannot be reached."),
        ok([]),
    )
    client, slept = make_client(handler)
    assert client.clinics() == []
    assert len(handler.requests) == 3
    assert len(slept) == 2


def test_retries_are_bounded_by_max_retries_and_the_last_error_is_raised():
    handler = Recorder(httpx.Response(400, text="eConnector is not running."))
    client, slept = make_client(handler, max_retries=2)
    with pytest.raises(EConnectorDown):
        client.clinics()
    assert len(handler.requests) == 3


def test_backoff_uses_full_jitter_within_an_exponential_ceiling():
    handler = Recorder(httpx.Response(503, text="busy"))
    client, slept = make_client(handler, max_retries=5, backoff_base_s=1.0, backoff_max_s=4.0)
    with pytest.raises(ServerError):
        client.clinics()
    ceilings = [1.0, 2.0, 4.0, 4.0, 4.0]
    assert all(0 <= s <= c for s, c in zip(slept, ceilings, strict=True))


def test_throttled_retries_wait_the_retry_after_seconds():
    handler = Recorder(
        httpx.Response(429, text="Too many requests.", headers={"Retry-After": "0.85"}), ok([])
    )
    client, slept = make_client(handler)
    client.clinics()
    assert slept == [0.85]


def test_permanent_errors_are_never_retried():
    handler = Recorder(httpx.Response(401, text="Invalid customer key."))
    client, slept = make_client(handler)
    with pytest.raises(KeyRejected):
        client.clinics()
    assert len(handler.requests) == 1
    assert slept == []


def test_without_retries_raises_the_first_transient_error():
    handler = Recorder(httpx.Response(500, text="boom"), ok([]))
    client, _ = make_client(handler)
    with pytest.raises(ServerError):
        client.without_retries().clinics()
    assert len(handler.requests) == 1
    assert client.max_retries == 3


def test_request_accepts_retry_false():
    handler = Recorder(httpx.Response(504, text="Gateway Time-out"), ok([]))
    client, _ = make_client(handler)
    with pytest.raises(ServerError):
        client.request("GET", "/clinics", retry=False)


def test_a_410_is_gone_and_permanent():
    handler = Recorder(httpx.Response(410, text="This method has been deprecated."))
    client, _ = make_client(handler)
    with pytest.raises(Gone) as info:
        client.clinics()
    assert info.value.permanent
    assert len(handler.requests) == 1


def test_connect_errors_become_unreachable_after_retries():
    handler = Recorder(httpx.ConnectError("refused"))
    client, _ = make_client(handler, max_retries=1)
    with pytest.raises(Unreachable) as info:
        client.clinics()
    assert info.value.status is None
    assert info.value.transient
    assert len(handler.requests) == 2


def test_read_timeouts_become_timeout():
    handler = Recorder(httpx.ReadTimeout("slow"))
    client, _ = make_client(handler, max_retries=0)
    with pytest.raises(Timeout):
        client.clinics()


def test_html_on_a_200_is_a_bad_response_and_is_retried():
    handler = Recorder(httpx.Response(200, text="<html>maintenance</html>"), ok([]))
    client, _ = make_client(handler)
    assert client.clinics() == []
    assert len(handler.requests) == 2


def test_a_wrong_shape_is_a_bad_response():
    handler = Recorder(ok({"not": "a list"}))
    client, _ = make_client(handler, max_retries=0)
    with pytest.raises(BadResponse):
        client.clinics()


def test_repr_and_errors_never_contain_the_keys():
    body = f"Invalid customer key {CUST} for developer {DEV}."
    handler = Recorder(httpx.Response(401, text=body))
    client, _ = make_client(handler)
    assert DEV not in repr(client) and CUST not in repr(client)
    with pytest.raises(KeyRejected) as info:
        client.clinics()
    for text in (str(info.value), repr(info.value), info.value.body):
        assert DEV not in text and CUST not in text


def test_on_request_reports_each_attempt_without_keys():
    calls = []
    answers = Recorder(httpx.Response(500, text="x"), ok([]))

    def slow_first_answer(request):
        if not answers.requests:
            time.sleep(0.1)
        return answers(request)

    client, _ = make_client(slow_first_answer, on_request=lambda *args: calls.append(args))
    client.clinics()
    assert [(m, p, s) for m, p, s, _ in calls] == [
        ("GET", "/clinics", 500),
        ("GET", "/clinics", 200),
    ]
    assert calls[0][3] >= 0.1  # the time that attempt took on the wire


def test_paginate_stops_at_the_first_short_page_with_exact_offsets():
    def handler(request):
        offset = int(request.url.params["Offset"])
        limit = int(request.url.params["Limit"])
        rows = [{"n": i} for i in range(offset, min(offset + limit, 250))]
        return ok(rows)

    client, _ = make_client(handler)
    rows = list(client.paginate("/things", {"X": 1}, page_size=100))
    assert [r["n"] for r in rows] == list(range(250))


def test_paginate_makes_one_extra_call_when_the_total_is_a_multiple_of_the_page():
    seen = []

    def handler(request):
        offset = int(request.url.params["Offset"])
        seen.append(offset)
        return ok([{"n": i} for i in range(offset, min(offset + 100, 200))])

    client, _ = make_client(handler)
    assert len(list(client.paginate("/things", page_size=100))) == 200
    assert seen == [0, 100, 200]


def test_aging_report_pages_with_offset_only():
    row = {
        "PatNum": 1, "patName": "A", "Bal_0_30": 1, "Bal_31_60": 0, "Bal_61_90": 0,
        "BalOver90": 0, "BalTotal": 1, "InsWoEst": 0, "InsPayEst": 0, "PatientPortion": 1,
    }  # fmt: skip
    handler = Recorder(ok([row] * 100), ok([row] * 3))
    client, _ = make_client(handler)
    assert len(list(client.aging_report())) == 103
    assert "Limit" not in handler.requests[0].url.params
    assert handler.requests[1].url.params["Offset"] == "100"


def test_short_query_puts_the_sql_and_pages_by_offset():
    handler = Recorder(ok([{"a": 1}] * 100), ok([{"a": 2.5}]))
    client, _ = make_client(handler)
    pages = list(client.short_query_pages("SELECT 1"))
    assert [len(p) for p in pages] == [100, 1]
    assert pages[1][0]["a"] == Decimal("2.5")
    assert json.loads(handler.requests[0].content) == {"SqlCommand": "SELECT 1"}
    assert handler.requests[0].method == "PUT"
    assert handler.requests[1].url.params["Offset"] == "100"


def test_unknown_patients_simple_filters_are_refused_before_any_request():
    handler = Recorder(ok([]))
    client, _ = make_client(handler)
    with pytest.raises(ValueError, match="page"):
        list(client.patients_simple(page=2))
    assert handler.requests == []


def test_the_pacer_is_consulted_before_every_request():
    handler = Recorder(ok([]))
    client, slept = make_client(handler, pacer=LocalPacer(), min_interval_s=1.0)
    started = time.monotonic()
    client.clinics()
    client.clinics()
    assert len(slept) == 1
    # One padded interval (1.045 s), less however long the first call took on this machine.
    assert 1.045 - (time.monotonic() - started) - 0.002 <= slept[0] <= 1.045 + 0.002


def test_spacing_counts_from_when_the_previous_request_really_left():
    """A request that left late (here: a slow send) pushes the next one back by as much."""

    def slow_send(request):
        time.sleep(0.3)
        return ok([])

    client, slept = make_client(slow_send, pacer=LocalPacer(), min_interval_s=1.0)
    client.clinics()
    finished = time.monotonic()
    client.clinics()
    # The pacer's slot alone would wait about 1.045 - 0.3 s; the spacing counts from the send.
    assert len(slept) == 1
    assert 1.045 - (time.monotonic() - finished) - 0.002 <= slept[0] <= 1.045 + 0.002


def test_pacing_defaults_to_the_strictest_interval_until_permissions_are_known():
    perms = [
        {"Permission": "ApiReadAll", "HasPermission": "true"},
        {"Permission": "ApiQueries", "HasPermission": "true"},
        {"Permission": "ApiEnterprise", "HasPermission": "false"},
    ]
    client, _ = make_client(Recorder(ok(perms)))
    assert client.interval_s == 5.0
    assert client.granted_permissions() == frozenset({"ApiReadAll", "ApiQueries"})
    assert client.interval_s == 1.0


def test_service_mode_is_unpaced_and_pages_by_1000():
    client, _ = make_client(Recorder(ok([])), mode="Service")
    assert client.interval_s == 0
    assert client.page_size == 1000


def test_max_pace_wait_raises_pace_deferred_without_sending():
    handler = Recorder(ok([]))
    client, _ = make_client(handler, pacer=LocalPacer(), min_interval_s=5.0, max_pace_wait_s=1)
    started = time.monotonic()
    client.clinics()
    with pytest.raises(PaceDeferred) as info:
        client.without_retries().clinics()
    assert isinstance(info.value, Throttled)
    # The next slot: one padded interval (5.125 s) after the first, less the time spent since.
    retry_after = info.value.retry_after
    assert 5.125 - (time.monotonic() - started) - 0.002 <= retry_after <= 5.125 + 0.002
    assert len(handler.requests) == 1


def test_portal_create_is_not_retried_after_the_server_may_have_acted():
    handler = Recorder(httpx.Response(500, text="x"), ok({}))
    portal = DeveloperPortalClient(
        BASE,
        DEV,
        "PortalKey0123456",
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )
    with pytest.raises(ServerError):
        portal.api_key_create()
    assert len(handler.requests) == 1


def test_portal_create_is_retried_when_the_connection_never_opened():
    key = {
        "CustomerKey": "NewKey0123456789", "KeyStatus": "Enabled", "DateCreated": "2024-01-01",
        "DateDisabled": "0001-01-01", "DateTimeAssigned": "0001-01-01 00:00:00",
    }  # fmt: skip
    handler = Recorder(httpx.ConnectError("refused"), ok(key, 201))
    portal = DeveloperPortalClient(
        BASE,
        DEV,
        "PortalKey0123456",
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
        sleep=lambda s: None,
    )
    assert portal.api_key_create().key_status == "Enabled"
    assert handler.requests[1].headers["Authorization"] == f"ODFHIR {DEV}/PortalKey0123456"


def test_portal_refuses_statuses_it_cannot_set():
    portal = DeveloperPortalClient(BASE, DEV, "PortalKey0123456")
    with pytest.raises(ValueError):
        portal.api_key_set_status("NewKey0123456789", "DisabledByHQ")


def test_keys_with_slashes_are_refused():
    with pytest.raises(ValueError):
        OpenDentalClient(BASE, "a/b", CUST)


def test_shared_http_client_is_one_pooled_client_per_process():
    assert shared_http_client() is shared_http_client()


def test_appointments_send_open_dentals_own_parameter_spelling():
    handler = Recorder(ok([]))
    client, _ = make_client(handler)
    list(
        client.appointments(
            date_start=date(2024, 3, 1), date_end=date(2024, 3, 31), apt_status="Complete",
            clinic_num=0, date_t_stamp=datetime(2024, 3, 5, 14, 22, 1),
        )
    )  # fmt: skip
    params = dict(handler.requests[0].url.params)
    assert params == {
        "dateStart": "2024-03-01", "dateEnd": "2024-03-31", "AptStatus": "Complete",
        "ClinicNum": "0", "DateTStamp": "2024-03-05 14:22:01", "Offset": "0", "Limit": "100",
    }  # fmt: skip
    with pytest.raises(ValueError, match="apt_status"):
        client.appointments(apt_status="Done")


def test_a_subscription_create_is_not_retried_after_the_server_may_have_acted():
    handler = Recorder(httpx.Response(500, text="An unexpected error has occurred."))
    client, _ = make_client(handler)
    with pytest.raises(ServerError):
        client.subscription_create(
            end_point_url="http://127.0.0.1:9/hook", watch_table="Appointment", polling_seconds=5
        )
    assert len(handler.requests) == 1
    assert json.loads(handler.requests[0].content) == {
        "EndPointUrl": "http://127.0.0.1:9/hook", "WatchTable": "Appointment",
        "PollingSeconds": 5,
    }  # fmt: skip


def test_subscription_update_sends_only_the_fields_given_and_delete_sends_delete():
    handler = Recorder(httpx.Response(200, text=""))
    client, _ = make_client(handler)
    client.subscription_update(7, date_time_stop=datetime(2025, 1, 2, 3, 4, 5), note=None)
    client.subscription_delete(7)
    put, delete = handler.requests
    assert (put.method, put.url.path) == ("PUT", "/api/v1/subscriptions/7")
    assert json.loads(put.content) == {"DateTimeStop": "2025-01-02 03:04:05"}
    assert (delete.method, delete.url.path) == ("DELETE", "/api/v1/subscriptions/7")
    with pytest.raises(ValueError, match="Unknown subscription fields"):
        client.subscription_update(7, colour="red")


def test_the_async_client_pages_appointments_and_sends_subscription_writes():
    import asyncio

    from integrations.opendental.aio import AsyncOpenDentalClient

    def handler(request):
        if request.url.path.endswith("/appointments"):
            offset = int(request.url.params["Offset"])
            return ok([
                {"AptNum": n, "PatNum": 1, "AptStatus": "Scheduled",
                 "AptDateTime": "2024-01-02 08:00:00"}
                for n in range(offset, min(offset + 100, 130))
            ])  # fmt: skip
        if request.method == "POST":
            return ok({"SubscriptionNum": 4, "EndPointUrl": "http://127.0.0.1:9/"}, 201)
        return httpx.Response(200, text="")

    seen = []

    def noting(request):
        seen.append(request)
        return handler(request)

    async def work():
        client = AsyncOpenDentalClient(
            BASE, DEV, CUST, transport=httpx.MockTransport(noting), pacer=NullPacer()
        )
        rows = await client.aappointments(apt_status="Scheduled")
        made = await client.asubscription_create(end_point_url="http://127.0.0.1:9/", note="x")
        await client.asubscription_delete(made.subscription_num)
        return rows, made

    rows, made = asyncio.run(work())
    assert [a.apt_num for a in rows] == list(range(130))
    assert made.subscription_num == 4
    assert [(r.method, r.url.params.get("Offset")) for r in seen] == [
        ("GET", "0"), ("GET", "100"), ("POST", None), ("DELETE", None),
    ]  # fmt: skip
    assert json.loads(seen[2].content) == {"EndPointUrl": "http://127.0.0.1:9/", "Note": "x"}
