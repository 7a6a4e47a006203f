"""SIGTERM to a gateway with requests in flight: it stops listening, answers them, then exits."""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp import web

from e2e.harness import System, auth
from support.polling import eventually
from support.services import free_port

pytestmark = pytest.mark.e2e

IN_FLIGHT = 5


class HeldUpstream:
    """An orders service that takes list requests and answers them only when released."""

    def __init__(self) -> None:
        self.port = free_port()
        self.held = 0
        self.release = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        if request.path.endswith("/orders"):
            self.held += 1
            await self.release.wait()
            return web.json_response({"data": [], "next_page_token": None})
        return web.json_response({"status": "ok"})


@pytest.fixture
async def upstream() -> AsyncIterator[HeldUpstream]:
    held = HeldUpstream()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", held.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", held.port).start()
    yield held
    held.release.set()
    await runner.cleanup()


async def test_requests_in_flight_are_answered_before_the_gateway_exits(
    system: System, upstream: HeldUpstream
) -> None:
    gateway = system.another_gateway(
        "gateway-shutdown",
        TRADEWIND_GATEWAY_ORDERS_URL=f"http://127.0.0.1:{upstream.port}",
        TRADEWIND_GATEWAY_UPSTREAM_ATTEMPT_TIMEOUT_S="60",
        TRADEWIND_GATEWAY_UPSTREAM_BUDGET_S="120",
    )
    try:
        await gateway.wait_ready()
        assert gateway.process is not None
        key = (await system.create_key(f"term-{uuid.uuid4().hex[:8]}")).secret
        async with httpx.AsyncClient(base_url=gateway.url, timeout=60) as client:
            reads = [
                asyncio.create_task(client.get("/api/v1/orders", headers=auth(key)))
                for _ in range(IN_FLIGHT)
            ]
            await eventually(
                lambda: asyncio.sleep(0, upstream.held == IN_FLIGHT), message="reads not held"
            )
            gateway.process.send_signal(signal.SIGTERM)
            await eventually(gateway.refuses_connections, message="the gateway kept listening")
            assert not any(read.done() for read in reads), "a read was cut off at the signal"
            upstream.release.set()
            answers = await asyncio.gather(*reads)

        assert [answer.status_code for answer in answers] == [200] * IN_FLIGHT
        assert all(answer.json() == {"data": [], "next_page_token": None} for answer in answers)
        exit_code = await asyncio.to_thread(gateway.process.wait, 60)
        # uvicorn re-raises the signal once it has shut down, so a clean stop ends by SIGTERM.
        assert exit_code in (0, -signal.SIGTERM), gateway.tail()
        assert "Application shutdown complete" in gateway.tail(), gateway.tail()
    finally:
        gateway.kill()
