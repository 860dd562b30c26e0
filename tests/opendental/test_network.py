"""The network guard: which addresses a client may connect to, and the transports that check the
address actually connected to (over real sockets: a loopback listener must receive nothing)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from integrations.opendental import OpenDentalClient, Unreachable
from integrations.opendental.aio import AsyncOpenDentalClient, async_transport
from integrations.opendental.client import shared_http_client
from integrations.opendental.network import (
    AddressNotAllowed,
    BaseUrlRefused,
    NetworkGuard,
    base_url_check,
    base_url_host,
    base_url_problem,
)

DEV, CUST = "DevKey0123456789", "CustKey012345678"
NOTHING = NetworkGuard()  # production's default: public addresses only


def _client(url: str, guard: NetworkGuard) -> OpenDentalClient:
    return OpenDentalClient(
        url, DEV, CUST, http_client=shared_http_client(guard), min_interval_s=0,
        sleep=lambda s: None,
    )  # fmt: skip


REFUSED_BY_DEFAULT = [
    "127.0.0.1", "127.8.9.10", "::1", "169.254.1.1", "169.254.169.254", "fe80::1", "fe80::1%lo",
    "fd00:ec2::254", "10.0.0.5", "172.16.0.1", "192.168.1.1", "100.64.0.1", "fc00::1",
    "0.0.0.0", "::", "224.0.0.1", "ff02::1", "::ffff:127.0.0.1", "::ffff:169.254.169.254",  # noqa: S104
    "64:ff9b::a9fe:a9fe", "192.0.2.1", "not-an-address",
]  # fmt: skip


@pytest.mark.parametrize("address", REFUSED_BY_DEFAULT)
def test_by_default_only_public_addresses_are_allowed(address):
    assert not NOTHING.allows(address)
    with pytest.raises(AddressNotAllowed, match=f"address not allowed: {address}"):
        NOTHING.check(address)


@pytest.mark.parametrize("address", ["8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_are_allowed(address):
    assert NOTHING.allows(address)


def test_listed_networks_are_allowed_but_metadata_only_when_listed_alone():
    vpn = NetworkGuard.from_strings(["10.8.0.0/16", "169.254.0.0/16", "127.0.0.1/32"])
    assert vpn.allows("10.8.3.4") and vpn.allows("169.254.1.1") and vpn.allows("127.0.0.1")
    assert not vpn.allows("10.9.0.1") and not vpn.allows("127.0.0.2")
    assert not vpn.allows("169.254.169.254")  # inside a listed network, but metadata
    assert NetworkGuard.from_strings(["169.254.169.254/32"]).allows("169.254.169.254")
    with pytest.raises(ValueError, match="Not a network"):
        NetworkGuard.from_strings(["10.8.1.0/16"])


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://evil.example:6379/?x=/api/v1", "query"),
        ("http://evil.example/#/api/v1", "fragment"),
        ("http://evil.example/api/v1?", "query"),
        ("http://user:pass@10.8.0.5/api/v1", "user name or password"),
        ("http://@10.8.0.5/api/v1", "user name or password"),
        ("ftp://10.8.0.5/api/v1", "http:// or https://"),
        ("file:///etc/api/v1", "http:// or https://"),
        ("//10.8.0.5/api/v1", "http:// or https://"),
        ("http://10.8.0.5:99999/api/v1", "invalid port"),
        ("http:///api/v1", "no host"),
        ("http://10.8.0.5/other", "must end with /api/v1"),
        ("http://10.8.0.5/api/v1 ", "spaces"),
        ("http://10.8.0.5\\@evil/api/v1", "backslashes"),
    ],
)
def test_malformed_base_urls_are_refused(url, problem):
    assert problem in base_url_problem(url)
    with pytest.raises(BaseUrlRefused, match=problem.replace("(", r"\(")):
        base_url_check(url, NetworkGuard.from_strings(["10.8.0.0/16"]))


def test_a_base_url_check_resolves_the_name_and_checks_its_addresses():
    base_url_check("http://10.8.0.5:30223/api/v1/", NetworkGuard.from_strings(["10.8.0.0/16"]))
    with pytest.raises(BaseUrlRefused, match="address not allowed: 127.0.0.1"):
        base_url_check("http://localhost:30223/api/v1", NOTHING)
    with pytest.raises(BaseUrlRefused, match="address not allowed: 169.254.169.254"):
        base_url_check("http://169.254.169.254/api/v1", NOTHING)
    with pytest.raises(BaseUrlRefused, match="does not resolve"):
        base_url_check("http://no-such-host.invalid/api/v1", NOTHING)
    assert base_url_host("https://User@OD.Example:8443/api/v1") == "od.example:8443"


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]"])
def test_sync_client_refused_at_connect_sends_nothing(listener, host):
    client = _client(f"http://{host}:{listener.port}/api/v1", NOTHING)
    with pytest.raises(Unreachable, match="address not allowed: (::ffff:)?127.0.0.1") as exc:
        client.granted_permissions()
    assert exc.value.permanent and exc.value.status is None
    assert listener.connections == 0 and listener.received == []


def test_sync_client_reaches_a_listed_loopback_address(listener):
    guard = NetworkGuard.from_strings(["127.0.0.1/32"])
    client = _client(f"http://localhost:{listener.port}/api/v1", guard)
    assert client.granted_permissions() == frozenset()
    assert listener.received[0].startswith(b"GET /api/v1/securityperms HTTP/1.1")
    assert f"Authorization: ODFHIR {DEV}/{CUST}".encode() in listener.received[0]


def test_sync_client_to_link_local_metadata_is_refused_before_connecting():
    client = _client("http://169.254.169.254/api/v1", NetworkGuard.from_strings(["169.254.0.0/16"]))
    with pytest.raises(Unreachable, match="address not allowed: 169.254.169.254"):
        client.granted_permissions()


async def _async_permissions(url: str, guard: NetworkGuard | None) -> frozenset[str]:
    transport = async_transport(max_connections=2, guard=guard)
    try:
        client = AsyncOpenDentalClient(url, DEV, CUST, transport=transport, min_interval_s=0)
        client.max_retries = 0
        return await client.agranted_permissions()
    finally:
        await transport.aclose()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_async_client_refused_at_connect_sends_nothing(listener, host):
    url = f"http://{host}:{listener.port}/api/v1"
    with pytest.raises(Unreachable, match="address not allowed: 127.0.0.1") as exc:
        asyncio.run(_async_permissions(url, NOTHING))
    assert exc.value.permanent
    assert listener.connections == 0 and listener.received == []


def test_async_client_reaches_a_listed_loopback_address(listener):
    guard = NetworkGuard.from_strings(["127.0.0.0/8", "::1/128"])
    url = f"http://localhost:{listener.port}/api/v1"
    assert asyncio.run(_async_permissions(url, guard)) == frozenset()
    assert f"authorization: odfhir {DEV}/{CUST}".lower().encode() in listener.received[0].lower()


def test_one_shared_pooled_client_per_guard():
    guard = NetworkGuard.from_strings(["10.8.0.0/16"])
    assert shared_http_client(guard) is shared_http_client(
        NetworkGuard.from_strings(["10.8.0.0/16"])
    )
    assert shared_http_client(guard) is not shared_http_client()
    assert isinstance(shared_http_client(guard), httpx.Client)
