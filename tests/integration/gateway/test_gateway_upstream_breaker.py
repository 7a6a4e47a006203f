"""The gateway's breaker counts the service being unavailable, never a request's own 5xx.

A real HTTP service (aiohttp, on loopback) stands in for orders: it answers 500 to one account's
requests, as a service does for input it has a bug with, and 503 while "its database is down".
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web

from tradewind.common.problems import Problem
from tradewind.common.resilience import BreakerState, CircuitBreaker
from tradewind.gateway.adapters.upstream import ServiceClient

THRESHOLD = 3


@dataclass
class FakeOrders:
    """Answers 500 to ``mallory``, 503 to everyone while ``down``, else 200."""

    down: bool = False
    calls: list[str] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        account = request.match_info["account"]
        self.calls.append(account)
        if self.down:
            return web.json_response({"title": "Service Unavailable"}, status=503)
        if account == "mallory":
            return web.json_response({"title": "Internal Server Error"}, status=500)
        return web.json_response({"data": [], "next_page_token": None})


@dataclass
class Upstream:
    fake: FakeOrders
    client: ServiceClient
    breaker: CircuitBreaker


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    fake = FakeOrders()
    app = web.Application()
    app.router.add_get("/internal/v1/accounts/{account}/orders", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    breaker = CircuitBreaker("orders-test", failure_threshold=THRESHOLD, recovery_timeout=600)
    async with aiohttp.ClientSession() as session:
        client = ServiceClient(
            "orders",
            f"http://127.0.0.1:{port}",
            session,
            breaker,
            attempt_timeout_s=2,
            budget_s=5,
        )
        yield Upstream(fake, client, breaker)
    await runner.cleanup()


async def _list_orders(client: ServiceClient, account: str) -> int:
    try:
        response = await client.request("GET", f"/internal/v1/accounts/{account}/orders")
    except Problem as problem:
        return problem.status
    return response.status


async def test_an_accounts_500s_neither_open_the_breaker_nor_are_retried(
    upstream: Upstream,
) -> None:
    statuses = [await _list_orders(upstream.client, "mallory") for _ in range(THRESHOLD * 4)]

    assert statuses == [502] * len(statuses)
    assert upstream.fake.calls == ["mallory"] * len(statuses)  # one call each: no retries
    assert upstream.breaker.state is BreakerState.CLOSED
    assert await _list_orders(upstream.client, "alice") == 200


async def test_the_service_unavailable_opens_the_breaker_for_everyone(upstream: Upstream) -> None:
    upstream.fake.down = True
    statuses = [await _list_orders(upstream.client, "alice") for _ in range(THRESHOLD)]

    assert statuses == [503] * THRESHOLD
    assert upstream.breaker.state is BreakerState.OPEN
    assert len(upstream.fake.calls) >= THRESHOLD
    calls_when_opened = len(upstream.fake.calls)
    upstream.fake.down = False
    assert await _list_orders(upstream.client, "bob") == 503  # failing fast, not calling
    assert len(upstream.fake.calls) == calls_when_opened


async def test_an_unreachable_service_opens_the_breaker() -> None:
    breaker = CircuitBreaker("orders-gone", failure_threshold=THRESHOLD, recovery_timeout=600)
    async with aiohttp.ClientSession() as session:
        client = ServiceClient(
            "orders", "http://127.0.0.1:9", session, breaker, attempt_timeout_s=1, budget_s=5
        )
        for _ in range(THRESHOLD):
            assert await _list_orders(client, "alice") == 503
    assert breaker.state is BreakerState.OPEN
