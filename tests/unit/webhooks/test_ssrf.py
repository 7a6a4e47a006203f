import ipaddress
import socket
from collections.abc import AsyncIterator, Mapping

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from tradewind.webhooks.adapters.ssrf import (
    DestinationPolicy,
    DestinationRefused,
    GuardedResolver,
    check_address,
    check_url,
    guarded_connector,
)

STRICT = DestinationPolicy(allow_subnets=(), https_only=True)
PLAIN_HTTP = DestinationPolicy(allow_subnets=(), https_only=False)
LOOPBACK_ALLOWED = DestinationPolicy(
    allow_subnets=(ipaddress.ip_network("127.0.0.0/8"),), https_only=False
)

PUBLIC_V4 = "93.184.215.14"
PUBLIC_V6 = "2606:2800:21f:cb07:6820:80da:af6b:1b2c"


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.5", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("fc00::1", "unique-local"),
        ("fd12:3456:789a::1", "unique-local"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("::", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "broadcast"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("100.127.255.254", "carrier-grade NAT"),
        ("192.0.2.10", "documentation"),
        ("198.51.100.10", "documentation"),
        ("203.0.113.10", "documentation"),
        ("2001:db8::1", "documentation"),
        ("198.18.0.1", "benchmarking"),
        ("::ffff:10.0.0.5", "private"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "link-local"),
        ("2002:0a00:0005::1", "private"),
        ("2002:7f00:0001::", "loopback"),
        ("64:ff9b::10.0.0.5", "private"),
        ("64:ff9b::a9fe:a9fe", "link-local"),
        ("64:ff9b:1::1", "local-use NAT64"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
        ("::10.0.0.5", "reserved"),
        ("fec0::1", "site-local"),
    ],
)
def test_refused_addresses(address: str, reason: str) -> None:
    with pytest.raises(DestinationRefused, match=reason) as refused:
        check_address(address, STRICT)
    assert reason in refused.value.reason


def test_refused_address_accepts_ipaddress_objects() -> None:
    with pytest.raises(DestinationRefused):
        check_address(ipaddress.ip_address("10.1.2.3"), STRICT)


def test_non_ip_string_is_refused() -> None:
    with pytest.raises(DestinationRefused, match="not an IP address"):
        check_address("example.com", STRICT)


@pytest.mark.parametrize(
    "address",
    [
        PUBLIC_V4,
        PUBLIC_V6,
        "8.8.8.8",
        "1.1.1.1",
        "::ffff:93.184.215.14",
        "64:ff9b::5db8:d70e",
        "2002:5db8:d70e::1",
    ],
)
def test_public_addresses_are_allowed(address: str) -> None:
    check_address(address, STRICT)
    check_address(ipaddress.ip_address(address.split("%")[0]), STRICT)


@pytest.mark.parametrize("address", ["127.0.0.1", "127.9.9.9", "::ffff:127.0.0.1"])
def test_allow_list_lets_loopback_through(address: str) -> None:
    check_address(address, LOOPBACK_ALLOWED)


@pytest.mark.parametrize("address", ["10.0.0.5", "::1", "169.254.169.254"])
def test_allow_list_does_not_open_other_ranges(address: str) -> None:
    with pytest.raises(DestinationRefused):
        check_address(address, LOOPBACK_ALLOWED)


def test_allow_list_does_not_mix_address_families() -> None:
    # ipaddress on its own reports IPv4 0.0.0.1 as inside ::/96.
    policy = DestinationPolicy(allow_subnets=(ipaddress.ip_network("::/96"),), https_only=False)
    with pytest.raises(DestinationRefused):
        check_address("0.0.0.1", policy)


def test_refusal_surfaces_as_oserror_with_readable_message() -> None:
    with pytest.raises(OSError, match=r"destination refused: 10\.0\.0\.5 is private") as refused:
        check_address("10.0.0.5", STRICT)
    assert refused.value.strerror == "destination refused: 10.0.0.5 is private (10.0.0.0/8)"


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/tradewind",
        "https://hooks.example.com:8443/path?q=1",
        f"https://{PUBLIC_V4}/hook",
        f"https://[{PUBLIC_V6}]:443/hook",
        "HTTPS://Hooks.Example.com/",
        "https://xn--bcher-kva.example/hook",
        "https://hooks.example.com./path%20with%20escapes",
    ],
)
def test_check_url_accepts(url: str) -> None:
    check_url(url, STRICT)


def test_check_url_accepts_http_when_allowed() -> None:
    check_url("http://hooks.example.com/", PLAIN_HTTP)


@pytest.mark.parametrize(
    ("url", "policy", "reason"),
    [
        ("http://hooks.example.com/", STRICT, "only https"),
        ("ftp://hooks.example.com/", PLAIN_HTTP, "scheme"),
        ("file:///etc/passwd", PLAIN_HTTP, "scheme"),
        ("hooks.example.com/path", PLAIN_HTTP, "scheme"),
        ("https:///path", STRICT, "no host"),
        ("https://user:pass@hooks.example.com/", STRICT, "credentials"),
        ("https://user@hooks.example.com/", STRICT, "credentials"),
        ("https://hooks.example.com:99999/", STRICT, "invalid port"),
        ("https://hooks.example.com:0/", STRICT, "port 0"),
        ("https://127.0.0.1/", STRICT, "loopback"),
        ("https://10.0.0.5:8443/", STRICT, "private"),
        ("https://169.254.169.254/latest/meta-data", STRICT, "link-local"),
        ("https://[::1]/", STRICT, "loopback"),
        ("https://[::ffff:10.0.0.5]/", STRICT, "private"),
        ("https://[fe80::1%25eth0]/", STRICT, "'%' is not allowed"),
        ("https://[not-an-ip]/", STRICT, "malformed URL"),
        ("https://[v1.future]/", STRICT, "invalid IPv6"),
        ("https://[127.0.0.1]/", STRICT, "malformed URL"),
        ("https://2130706433/", STRICT, "canonical"),
        ("https://127.1/", STRICT, "canonical"),
        ("https://0x7f.0.0.1/", STRICT, "canonical"),
        ("https://hooks.example.com\n/", STRICT, "whitespace"),
        (" https://hooks.example.com/", STRICT, "whitespace"),
        # Clients map these to 169.254.169.254 (IDNA/NFKC): refused at registration.
        (
            "http://\uff11\uff16\uff19.\uff12\uff15\uff14.\uff11\uff16\uff19.\uff12\uff15\uff14/",
            PLAIN_HTTP,
            "non-ASCII",
        ),
        ("http://169\u3002254\u3002169\u3002254/", PLAIN_HTTP, "non-ASCII"),
        ("https://169\uff0e254\uff0e169\uff0e254/", STRICT, "non-ASCII"),
        ("https://b\u00fccher.example/", STRICT, "xn--"),
        ("https://169%2e254%2e169%2e254/", STRICT, "'%' is not allowed"),
        ("https://%31%32%37.0.0.1/", STRICT, "'%' is not allowed"),
        ("https://hooks_internal.example.com/", STRICT, "not a host name"),
        ("https://hooks.example.com\\@10.0.0.5/", STRICT, "backslash"),
        ("https://-hooks.example.com/", STRICT, "not a host name"),
    ],
)
def test_check_url_rejects(url: str, policy: DestinationPolicy, reason: str) -> None:
    with pytest.raises(DestinationRefused, match=reason):
        check_url(url, policy)


def test_check_url_honours_allow_list_for_literal_ip() -> None:
    check_url("http://127.0.0.1:8080/hook", LOOPBACK_ALLOWED)


class StaticResolver(AbstractResolver):
    """Stands in for DNS: returns fixed answers, like a rebinding attacker's server."""

    def __init__(self, answers: Mapping[str, list[str]]) -> None:
        self._answers = answers
        self.closed = False

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if host not in self._answers:
            raise OSError(f"unknown host {host}")
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in self._answers[host]
        ]

    async def close(self) -> None:
        self.closed = True


async def test_resolver_refuses_name_resolving_to_private_address() -> None:
    resolver = GuardedResolver(STRICT, StaticResolver({"rebind.test": ["10.0.0.5"]}))
    with pytest.raises(DestinationRefused, match=r"rebind\.test .*10\.0\.0\.5 is private"):
        await resolver.resolve("rebind.test", 443)


async def test_resolver_drops_refused_addresses_and_keeps_public_ones() -> None:
    inner = StaticResolver({"mixed.test": ["10.0.0.5", PUBLIC_V4, "::1", PUBLIC_V6]})
    results = await GuardedResolver(STRICT, inner).resolve("mixed.test", 443)
    assert [result["host"] for result in results] == [PUBLIC_V4, PUBLIC_V6]


async def test_resolver_passes_allow_listed_addresses() -> None:
    inner = StaticResolver({"rebind.test": ["127.0.0.1"]})
    results = await GuardedResolver(LOOPBACK_ALLOWED, inner).resolve("rebind.test", 80)
    assert [result["host"] for result in results] == ["127.0.0.1"]


async def test_resolver_close_closes_inner_resolver() -> None:
    inner = StaticResolver({})
    await GuardedResolver(STRICT, inner).close()
    assert inner.closed


async def test_guarded_connector_rejects_custom_socket_factory() -> None:
    with pytest.raises(TypeError, match="socket_factory"):
        guarded_connector(STRICT, socket_factory=lambda _addr_info: socket.socket())


@pytest.fixture(scope="module")
async def loopback_port() -> AsyncIterator[int]:
    async def hello(_request: web.Request) -> web.Response:
        return web.Response(text="delivered")

    app = web.Application()
    app.router.add_post("/hook", hello)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, host="127.0.0.1", port=0)
    await site.start()
    server = site._server
    assert server is not None
    sockets = getattr(server, "sockets", None)
    assert sockets
    port: int = sockets[0].getsockname()[1]
    try:
        yield port
    finally:
        await runner.cleanup()


async def post(connector: aiohttp.BaseConnector, url: str) -> str:
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.post(url, data=b"{}", allow_redirects=False) as response,
    ):
        response.raise_for_status()
        return await response.text()


async def test_literal_loopback_ip_is_refused_at_connect(loopback_port: int) -> None:
    url = f"http://127.0.0.1:{loopback_port}/hook"
    with pytest.raises(aiohttp.ClientConnectorError) as refused:
        await post(guarded_connector(PLAIN_HTTP), url)
    assert isinstance(refused.value.os_error, DestinationRefused)
    assert "loopback" in str(refused.value)


async def test_literal_loopback_ip_is_delivered_when_allow_listed(loopback_port: int) -> None:
    url = f"http://127.0.0.1:{loopback_port}/hook"
    assert await post(guarded_connector(LOOPBACK_ALLOWED), url) == "delivered"


async def test_hostname_rebound_to_loopback_is_refused(loopback_port: int) -> None:
    connector = guarded_connector(
        PLAIN_HTTP, resolver=StaticResolver({"rebind.test": ["127.0.0.1"]})
    )
    with pytest.raises(aiohttp.ClientConnectorError) as refused:
        await post(connector, f"http://rebind.test:{loopback_port}/hook")
    assert isinstance(refused.value.os_error, DestinationRefused)


async def test_hostname_rebound_to_loopback_is_delivered_when_allow_listed(
    loopback_port: int,
) -> None:
    connector = guarded_connector(
        LOOPBACK_ALLOWED, resolver=StaticResolver({"rebind.test": ["127.0.0.1"]})
    )
    assert await post(connector, f"http://rebind.test:{loopback_port}/hook") == "delivered"


async def test_localhost_via_system_resolver_is_refused(loopback_port: int) -> None:
    with pytest.raises(aiohttp.ClientConnectorError) as refused:
        await post(guarded_connector(PLAIN_HTTP), f"http://localhost:{loopback_port}/hook")
    assert isinstance(refused.value.os_error, DestinationRefused)
