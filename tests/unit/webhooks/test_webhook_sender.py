"""The sender against a local aiohttp server: what each kind of answer becomes."""

import asyncio
import ipaddress
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from tradewind.webhooks.adapters.sender import Sender
from tradewind.webhooks.adapters.ssrf import DestinationPolicy

LOOPBACK = DestinationPolicy(allow_subnets=(ipaddress.ip_network("127.0.0.0/8"),), https_only=False)


@pytest.fixture(scope="module")
async def server() -> AsyncIterator[str]:
    release = asyncio.Event()

    async def ok(request: web.Request) -> web.Response:
        assert await request.read() == b'{"a":1}'
        return web.Response(text="thanks", headers={"x-echo-id": request.headers["webhook-id"]})

    async def big(_request: web.Request) -> web.Response:
        return web.Response(body=b"y" * 100_000)

    async def nul(_request: web.Request) -> web.Response:
        return web.Response(body=b"a\x00b\xff")

    async def moved(_request: web.Request) -> web.Response:
        return web.Response(status=307, headers={"Location": "/ok"})

    async def throttled(_request: web.Request) -> web.Response:
        return web.Response(status=503, headers={"Retry-After": "7"})

    async def hang(_request: web.Request) -> web.Response:
        await release.wait()
        return web.Response()

    app = web.Application()
    for name, handler in [
        ("ok", ok),
        ("big", big),
        ("nul", nul),
        ("moved", moved),
        ("throttled", throttled),
        ("hang", hang),
    ]:
        app.router.add_post(f"/{name}", handler)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}"
    release.set()
    await runner.cleanup()


@pytest.fixture
async def sender() -> AsyncIterator[Sender]:
    client = Sender(LOOPBACK, timeout_s=0.3, body_limit=64, max_connections=4)
    await client.start()
    yield client
    await client.close()


HEADERS = {"webhook-id": "msg_1", "content-type": "application/json"}


async def test_2xx(server: str, sender: Sender) -> None:
    outcome = await sender.post(f"{server}/ok", b'{"a":1}', HEADERS)
    assert outcome.result.succeeded
    assert outcome.result.status_code == 200
    assert outcome.response_body == "thanks"
    assert outcome.duration_ms >= 0


async def test_response_body_is_read_only_up_to_the_bound(server: str, sender: Sender) -> None:
    outcome = await sender.post(f"{server}/big", b"{}", HEADERS)
    assert outcome.response_body == "y" * 64


async def test_response_body_is_storable_text(server: str, sender: Sender) -> None:
    outcome = await sender.post(f"{server}/nul", b"{}", HEADERS)
    assert outcome.response_body == "a\ufffdb\ufffd"


async def test_redirect_is_not_followed(server: str, sender: Sender) -> None:
    outcome = await sender.post(f"{server}/moved", b"{}", HEADERS)
    assert not outcome.result.succeeded
    assert outcome.result.status_code == 307
    assert outcome.result.error == "redirect 307 to '/ok' not followed: answer 2xx at the URL"


async def test_retry_after_is_passed_on(server: str, sender: Sender) -> None:
    outcome = await sender.post(f"{server}/throttled", b"{}", HEADERS)
    assert outcome.result.status_code == 503
    assert outcome.result.retry_after == "7"


async def test_timeout(server: str, sender: Sender) -> None:
    outcome = await sender.post(f"{server}/hang", b"{}", HEADERS)
    assert outcome.result.status_code is None
    assert outcome.result.error == "timed out after 0.3s"


async def test_connection_refused(sender: Sender) -> None:
    outcome = await sender.post("http://127.0.0.1:9/hook", b"{}", HEADERS)
    assert outcome.result.status_code is None
    assert outcome.result.error is not None
    assert outcome.result.error.startswith("cannot connect to 127.0.0.1:9")


async def test_refused_destination_is_a_clear_error(server: str) -> None:
    strict = Sender(
        DestinationPolicy(https_only=False), timeout_s=1, body_limit=64, max_connections=1
    )
    await strict.start()
    try:
        outcome = await strict.post(f"{server}/ok", b"{}", HEADERS)
    finally:
        await strict.close()
    assert outcome.result.error == "destination refused: 127.0.0.1 is loopback (127.0.0.0/8)"
