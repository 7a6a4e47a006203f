"""SSRF guard for webhook deliveries.

Customer-supplied URLs must never reach internal services. ``check_url`` rejects
obviously bad URLs at registration; the real enforcement happens at connect time
(``guarded_connector``) against the exact addresses a socket is about to connect to,
so a hostname that later re-resolves to an internal address (DNS rebinding) is
still refused.
"""

from __future__ import annotations

import errno
import ipaddress
import re
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ALLOWED_SCHEMES = frozenset({"http", "https"})


class DestinationRefused(OSError):
    """The destination is not allowed by the delivery policy.

    An ``OSError`` so that, raised from the resolver or socket factory, aiohttp reports
    it as ``aiohttp.ClientConnectorError`` with this exception as ``os_error``.
    """

    def __init__(self, reason: str) -> None:
        # strerror is what ClientConnectorError puts into its message.
        super().__init__(errno.EACCES, f"destination refused: {reason}")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class DestinationPolicy:
    allow_subnets: tuple[IPNetwork, ...] = ()
    https_only: bool = True


def _networks(entries: Sequence[tuple[str, str]]) -> tuple[tuple[IPNetwork, str], ...]:
    return tuple((ipaddress.ip_network(cidr), reason) for cidr, reason in entries)


# Order matters where ranges nest: the first match supplies the reason.
_REFUSED_NETWORKS = _networks(
    [
        ("0.0.0.0/8", "unspecified ('this network')"),
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "carrier-grade NAT"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "IETF protocol assignment"),
        ("192.0.2.0/24", "documentation"),
        ("192.88.99.0/24", "6to4 relay anycast"),
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "benchmarking"),
        ("198.51.100.0/24", "documentation"),
        ("203.0.113.0/24", "documentation"),
        ("224.0.0.0/4", "multicast"),
        ("255.255.255.255/32", "broadcast"),
        ("240.0.0.0/4", "reserved"),
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("64:ff9b:1::/48", "local-use NAT64"),
        ("::/8", "reserved (incl. IPv4-compatible and IPv4-translated forms)"),
        ("100::/64", "discard-only"),
        ("2001::/23", "IETF protocol assignment (incl. Teredo)"),
        ("2001:db8::/32", "documentation"),
        ("3fff::/20", "documentation"),
        ("fc00::/7", "unique-local"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local"),
        ("ff00::/8", "multicast"),
    ]
)

_NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form actually delivers to, for forms that embed one."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64_WELL_KNOWN:
        return ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
    return None


def _is_allowed(address: IPAddress, policy: DestinationPolicy) -> bool:
    # Compare versions explicitly: ipaddress's containment test does not, so an IPv4
    # address can spuriously "belong" to a short IPv6 network.
    return any(
        address.version == network.version and address in network
        for network in policy.allow_subnets
    )


def _parse_address(ip: str | IPAddress) -> IPAddress:
    if isinstance(ip, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return ip
    try:
        return ipaddress.ip_address(ip)
    except ValueError as exc:
        raise DestinationRefused(f"{ip!r} is not an IP address") from exc


def check_address(ip: str | IPAddress, policy: DestinationPolicy) -> None:
    """Raise ``DestinationRefused`` unless ``ip`` is publicly routable or allow-listed."""
    address = _parse_address(ip)
    if _is_allowed(address, policy):
        return
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            try:
                check_address(embedded, policy)
            except DestinationRefused as exc:
                raise DestinationRefused(f"{address} embeds {exc.reason}") from exc
            return
    for network, reason in _REFUSED_NETWORKS:
        if address.version == network.version and address in network:
            raise DestinationRefused(f"{address} is {reason} ({network})")
    # Backstop for special-purpose ranges missing from the table above.
    if not address.is_global:
        raise DestinationRefused(f"{address} is not globally routable")


_NUMERIC_LABEL = re.compile(r"(0x[0-9a-f]*|[0-9]+)")
# A DNS host name as RFC 1123 writes it (letters, digits, hyphens; internationalised names in
# their xn-- form), with an optional trailing dot. Nothing a client library could rewrite.
_HOSTNAME = re.compile(
    r"(?=.{1,253}\.?$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*\.?",
    re.ASCII,
)


def _check_host(host: str, bracketed: bool, policy: DestinationPolicy) -> None:
    if bracketed:
        try:
            address: IPAddress = ipaddress.IPv6Address(host)
        except ValueError as exc:
            raise DestinationRefused(f"invalid IPv6 literal {host!r}") from exc
        check_address(address, policy)
        return
    try:
        address = ipaddress.IPv4Address(host)
    except ValueError:
        pass
    else:
        check_address(address, policy)
        return
    if not _HOSTNAME.fullmatch(host):
        raise DestinationRefused(
            f"{host!r} is not a host name (letters, digits, '-' and '.'; "
            "an internationalised name in its xn-- form) or an IP address"
        )
    # getaddrinfo/inet_aton read "2130706433", "127.1" or "0x7f.1" as 127.0.0.1; such
    # hosts only exist to dodge literal-IP checks, so refuse them outright.
    last_label = host.rstrip(".").rsplit(".", 1)[-1]
    if _NUMERIC_LABEL.fullmatch(last_label):
        raise DestinationRefused(f"{host!r} is not a canonical IPv4 address or hostname")


def check_url(url: str, policy: DestinationPolicy) -> None:
    """Validate an endpoint URL at registration; literal IP hosts are checked here."""
    # urlsplit silently drops some whitespace and control characters, so the URL we
    # validated would differ from the one stored and later requested.
    if any(char.isspace() or not char.isprintable() for char in url):
        raise DestinationRefused("URL contains whitespace or control characters")
    # Clients read non-ASCII hosts with IDNA/NFKC rules: fullwidth digits, or ideographic full
    # stops (U+3002) between the labels, become 169.254.169.254 on the wire. Only the ASCII
    # form is checked and stored, so what is refused here is what would be connected to.
    if not url.isascii():
        raise DestinationRefused(
            "URL contains non-ASCII characters; write an internationalised host in its "
            "xn-- form and percent-encode the path"
        )
    if "\\" in url:
        raise DestinationRefused("URL contains a backslash, which parsers read differently")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise DestinationRefused(f"malformed URL: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise DestinationRefused(f"scheme {parts.scheme!r} is not http or https")
    if policy.https_only and scheme != "https":
        raise DestinationRefused("only https endpoints are allowed")
    if parts.username is not None or parts.password is not None:
        raise DestinationRefused("credentials in the URL are not allowed")
    host = parts.hostname
    if not host:
        raise DestinationRefused("URL has no host")
    if "%" in parts.netloc:
        # Percent-encoded host bytes, or an IPv6 zone id ("[fe80::1%25eth0]").
        raise DestinationRefused("'%' is not allowed in the host")
    try:
        port = parts.port
    except ValueError as exc:
        raise DestinationRefused(f"invalid port: {exc}") from exc
    if port == 0:
        raise DestinationRefused("port 0 is not a valid destination")
    _check_host(host, bracketed="[" in parts.netloc, policy=policy)


class GuardedResolver(AbstractResolver):
    """Resolver that drops addresses refused by the policy.

    Connections only ever use the addresses this returns, so a name whose DNS answer
    changes between registration and delivery cannot smuggle in an internal address.
    """

    def __init__(self, policy: DestinationPolicy, inner: AbstractResolver | None = None) -> None:
        self._policy = policy
        # Needs a running event loop when ``inner`` is not given, like TCPConnector.
        self._inner = inner if inner is not None else ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        resolved = await self._inner.resolve(host, port, family)
        permitted: list[ResolveResult] = []
        refusals: list[str] = []
        for result in resolved:
            try:
                check_address(result["host"], self._policy)
            except DestinationRefused as exc:
                refusals.append(exc.reason)
            else:
                permitted.append(result)
        if not permitted:
            detail = "; ".join(refusals) or "no addresses"
            raise DestinationRefused(f"{host} resolves only to refused addresses: {detail}")
        return permitted

    async def close(self) -> None:
        await self._inner.close()


def guarded_socket_factory(policy: DestinationPolicy) -> aiohttp.SocketFactoryType:
    """Socket factory that checks the exact address right before ``connect()``."""

    def create_socket(addr_info: aiohttp.AddrInfoType) -> socket.socket:
        family, socket_type, proto, _canonical_name, sockaddr = addr_info
        check_address(str(sockaddr[0]), policy)
        return socket.socket(family=family, type=socket_type, proto=proto)

    return create_socket


def guarded_connector(policy: DestinationPolicy, **kw: Any) -> aiohttp.TCPConnector:
    """A ``TCPConnector`` that refuses destinations the policy does not allow.

    Two layers, both evaluated at connect time:

    * ``GuardedResolver`` filters DNS answers, so a hostname resolving to an internal
      address fails cleanly as ``ClientConnectorDNSError`` before any socket exists.
    * The socket factory re-checks every address immediately before ``connect()``.
      This layer is needed because ``TCPConnector._resolve_host`` never calls the
      resolver for literal IP hosts (``http://127.0.0.1/``). We use the public
      ``socket_factory`` hook rather than overriding the private ``_resolve_host`` or
      inspecting the URL in a trace hook: it sees the final address of every path
      (literal IPs, DNS-cache hits, happy-eyeballs fallbacks, and a proxy's own
      address) and cannot drift when aiohttp's internals change.

    Keep ``trust_env`` off on the session: behind an HTTP proxy only the proxy's
    address is checked and the proxy resolves the target itself.
    """
    if "socket_factory" in kw:
        raise TypeError("guarded_connector installs its own socket_factory")
    inner_resolver: AbstractResolver | None = kw.pop("resolver", None)
    return aiohttp.TCPConnector(
        resolver=GuardedResolver(policy, inner_resolver),
        socket_factory=guarded_socket_factory(policy),
        **kw,
    )
