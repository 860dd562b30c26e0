"""Requests go only where the deployment allows, checked on the address connected to: a refused
connection is the office's status and cause (Unreachable, "address not allowed: ..."), and the
host behind it receives nothing, no Authorization header (real HTTP, both engines)."""

from __future__ import annotations

import httpx

from integrations.offices.models import OfficeStatus, PollKind, PollRun, RunOutcome
from integrations.offices.services import keys, offices
from integrations.offices.services.polling import batch, dispatch
from tests.factories import random_key
from tests.helpers import run_to_end


def _requests(sandbox) -> int:
    return httpx.get(f"{sandbox.control_url}/stats", timeout=10).json()["requests"]


def _service_office(account, owner, url: str):
    host = url.split("//")[1].split("/")[0]
    office = offices.office_create(
        account=account, actor=owner, name="Own Server", api_mode="service", base_url=url,
        confirmed_host=host, time_zone="UTC",
    )  # fmt: skip
    keys.customer_key_add(office=office, key=random_key(), actor=owner)
    return office


def test_a_server_saved_while_allowed_is_refused_at_connect_once_it_is_not(
    sandbox_account, owner, listener, settings
):
    account = sandbox_account["Queries Office"].account
    office = _service_office(account, owner, f"http://127.0.0.1:{listener.port}/api/v1")
    settings.ODPORTAL_ALLOWED_NETWORKS = []  # production's default: loopback not listed
    run = run_to_end(office)
    office.refresh_from_db()
    assert office.status == OfficeStatus.UNREACHABLE
    assert office.last_error == "Unreachable: address not allowed: 127.0.0.1"
    assert run.outcome == RunOutcome.FAILED and "address not allowed" in run.error
    assert listener.connections == 0 and listener.received == []
    # The same office with loopback allowed does reach the listener, keys and all.
    settings.ODPORTAL_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    run_to_end(office)
    assert listener.received and b"ODFHIR " in listener.received[0]


def test_a_name_resolving_to_loopback_is_refused_at_connect(sandbox_account, listener, settings):
    settings.OPENDENTAL_REMOTE_BASE_URL = f"http://localhost:{listener.port}/api/v1"
    settings.ODPORTAL_ALLOWED_NETWORKS = []
    office = sandbox_account["Spare Office"]
    run_to_end(office)
    office.refresh_from_db()
    assert office.status == OfficeStatus.UNREACHABLE
    assert office.last_error.startswith("Unreachable: address not allowed: ")
    assert listener.connections == 0


def test_with_loopback_not_listed_the_sandbox_receives_no_request(
    sandbox_account, sandbox, settings
):
    """Both engines: health polls (sync client) and a batch of aging refreshes (aiohttp)."""
    offices_ = [sandbox_account[n] for n in ("Queries Office", "ReadAll Office", "Spare Office")]
    for office in offices_:  # health-polled while allowed: the batch needs their permissions
        run_to_end(office)
    settings.ODPORTAL_ALLOWED_NETWORKS = []
    before = _requests(sandbox)
    health = run_to_end(offices_[0])
    run_ids = [
        dispatch.poll_enqueue(office=o, kind=PollKind.AGING, send=False)[0].pk for o in offices_
    ]
    assert batch.batch_execute(run_ids, claimer="refused") == {}  # permanent: nothing to resume
    assert _requests(sandbox) == before
    assert "address not allowed: 127.0.0.1" in health.error
    for run in PollRun.objects.filter(pk__in=run_ids).select_related("office"):
        assert run.outcome == RunOutcome.FAILED and "address not allowed: 127.0.0.1" in run.error
        assert run.office.status == OfficeStatus.UNREACHABLE


def test_link_local_and_metadata_are_refused_at_connect(sandbox_account, owner, settings):
    account = sandbox_account["Queries Office"].account
    settings.ODPORTAL_ALLOWED_NETWORKS = ["169.254.10.1/32"]
    link_local = _service_office(account, owner, "http://169.254.10.1/api/v1")  # listed: saved
    settings.ODPORTAL_ALLOWED_NETWORKS = ["10.0.0.0/8"]  # the vendor's VPN only, from now on
    settings.OPENDENTAL_REMOTE_BASE_URL = "http://169.254.169.254/api/v1"
    metadata = sandbox_account["Spare Office"]
    for office, address in ((link_local, "169.254.10.1"), (metadata, "169.254.169.254")):
        run_to_end(office)
        office.refresh_from_db()
        assert office.status == OfficeStatus.UNREACHABLE
        assert office.last_error == f"Unreachable: address not allowed: {address}"
    # All of link-local listed: the metadata address must still be listed on its own.
    settings.ODPORTAL_ALLOWED_NETWORKS = ["169.254.0.0/16"]
    run_to_end(metadata)
    metadata.refresh_from_db()
    assert metadata.last_error == "Unreachable: address not allowed: 169.254.169.254"
