"""Where the client's requests may go: a network guard, and transports that obey it. No Django.

Every request carries ``Authorization: ODFHIR <developer key>/<customer key>``, so the address a
client connects to is a trust boundary. ``NetworkGuard`` decides per IP address:

- an address inside one of its ``allowed`` networks is allowed;
- otherwise only a public address is (``is_global`` and not multicast): loopback, link-local
  (169.254/16, fe80::/10), private ranges (RFC 1918, fc00::/7, 100.64/10), unspecified,
  multicast, documentation and reserved ranges are refused unless listed;
- the cloud metadata addresses (169.254.169.254, fd00:ec2::254) are refused even inside a
  listed network, unless listed on their own (a /32 or /128);
- an IPv6 address that embeds an IPv4 one (::ffff:a.b.c.d, NAT64 64:ff9b::/96) is judged by
  the IPv4 address.

The transports (``GuardedTransport`` here for httpx, ``aio.guarded_connector`` for aiohttp)
resolve names themselves, check every address and connect only to an allowed
one: the check is on the address actually connected to, so a name that resolves elsewhere
after a save-time check gets nowhere. A refused connection raises ``AddressNotAllowed`` (inside
the transport's connect error) before a byte is sent: the Authorization header never leaves.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
API_SUFFIX = "/api/v1"


class AddressNotAllowed(OSError):
    """A connection the guard refused: nothing was sent."""

    def __init__(self, address: str) -> None:
        super().__init__(f"address not allowed: {address}")
        self.address = address


class BaseUrlRefused(ValueError):
    """A base URL the client must not be pointed at (the message says why)."""


def _parse(address: str) -> IPAddress | None:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip in _NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


@dataclass(frozen=True)
class NetworkGuard:
    """Which addresses a client may connect to: public ones, plus the ``allowed`` networks."""

    allowed: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_strings(cls, networks: Iterable[str]) -> NetworkGuard:
        """A guard from CIDR strings ("10.8.0.0/16", "127.0.0.1/32"); ValueError on a bad one."""
        parsed = []
        for text in networks:
            try:
                parsed.append(ipaddress.ip_network(text.strip()))
            except ValueError as exc:
                raise ValueError(f"Not a network: {text!r} ({exc})") from None
        return cls(tuple(parsed))

    def allows(self, address: str) -> bool:
        """Whether a connection to this IP address (a string, as resolved) is allowed."""
        ip = _parse(address)
        if ip is None:
            return False
        listed = [net for net in self.allowed if net.version == ip.version and ip in net]
        if ip in METADATA_ADDRESSES:
            return any(net.num_addresses == 1 for net in listed)
        return bool(listed) or (ip.is_global and not ip.is_multicast)

    def check(self, address: str) -> None:
        """Raise AddressNotAllowed unless ``allows(address)``."""
        if not self.allows(address):
            raise AddressNotAllowed(address)

    def addresses(self, host: str, port: int) -> list[str]:
        """The allowed addresses of ``host`` (resolved here), in resolver order.

        Raises AddressNotAllowed (naming the first address) when none is allowed, or the
        resolver's OSError when the name does not resolve.
        """
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        found = list(dict.fromkeys(str(info[4][0]) for info in infos))
        allowed = [address for address in found if self.allows(address)]
        if not allowed:
            raise AddressNotAllowed(found[0] if found else host)
        return allowed


def refusal(exc: BaseException) -> AddressNotAllowed | None:
    """The guard's refusal behind a transport error (its cause or context chain), if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, AddressNotAllowed):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


# --- base URLs -------------------------------------------------------------------------------


def base_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be an Open Dental API base URL (no network access), or None."""
    if any(c.isspace() or ord(c) < 32 or c == "\\" for c in url):
        return "must not contain spaces, control characters or backslashes"
    if "?" in url or "#" in url:
        return "must not contain a query (?) or a fragment (#)"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return "must start with http:// or https://"
    if "@" in parts.netloc:
        return "must not contain a user name or password (user:pass@)"
    try:
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return "has an invalid port"
    if not parts.hostname:
        return "has no host"
    if not parts.path.rstrip("/").endswith(API_SUFFIX):
        return f"must end with {API_SUFFIX}"
    return None


def base_url_host(url: str) -> str:
    """The host (and port, if given) a base URL sends to, as shown to people."""
    return urlsplit(url).netloc.rpartition("@")[2].lower()


def base_url_check(url: str, guard: NetworkGuard) -> None:
    """Raise BaseUrlRefused unless ``url`` is well-formed and its host resolves to an address
    the guard allows (the connect-time check still decides for each connection)."""
    problem = base_url_problem(url)
    if problem:
        raise BaseUrlRefused(f"The base URL {problem}.")
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        guard.addresses(parts.hostname or "", port)
    except AddressNotAllowed as exc:
        raise BaseUrlRefused(
            f"Requests may not go to {base_url_host(url)}: {exc}. "
            "Ask the deployment to list its network in ODPORTAL_ALLOWED_NETWORKS."
        ) from None
    except OSError:
        raise BaseUrlRefused(f"The host {parts.hostname} does not resolve.") from None


# --- the sync transport (httpx over httpcore) ------------------------------------------------


class GuardedBackend(httpcore.NetworkBackend):
    """httpcore's sync network backend, connecting only to addresses the guard allows."""

    def __init__(self, guard: NetworkGuard) -> None:
        self.guard = guard
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = self.guard.addresses(host, port)
        except OSError as exc:  # refused, or the name does not resolve
            raise httpcore.ConnectError(str(exc)) from exc
        error: Exception | None = None
        for address in addresses:  # the checked address itself: no second lookup
            try:
                return self._inner.connect_tcp(
                    address, port, timeout, local_address=local_address,
                    socket_options=socket_options,
                )  # fmt: skip
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None
        raise error

    def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options=None):
        raise httpcore.ConnectError("Unix sockets are not allowed")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class GuardedTransport(httpx.HTTPTransport):
    """httpx's sync transport whose every connection goes through a GuardedBackend."""

    def __init__(self, guard: NetworkGuard, *, limits: httpx.Limits) -> None:
        super().__init__(limits=limits)
        # httpx takes no network backend: rebuild its pool (the attribute its requests use)
        # with the same settings and ours.
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(guard),
        )
