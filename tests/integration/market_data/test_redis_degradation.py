"""Redis down: latest quotes are served stale from memory, readiness is degraded, ingest goes on;
Redis back: fresh again, readiness up, no restart."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI

from integration.market_data.market_data_helpers import around, listening, runtime, settings_for
from support.infra import Infra
from support.internal import INTERNAL_HEADERS
from support.polling import eventually
from support.tcp_proxy import TcpProxy
from tradewind.common.broker import Broker, Topology
from tradewind.common.contracts import Quote
from tradewind.common.contracts.types import utc_now
from tradewind.common.settings import SharedSettings
from tradewind.market_data.app import create_app

BATCH = "/internal/v1/quotes:batch"
LATEST = "/internal/v1/quotes/DOWN/latest"


@pytest.fixture
async def redis_proxy(infra: Infra) -> AsyncIterator[TcpProxy]:
    parts = urlsplit(infra.redis_url)
    proxy = await TcpProxy(parts.hostname or "127.0.0.1", parts.port or 6379).start()
    yield proxy
    await proxy.stop()


@pytest.fixture
async def app_behind_proxy(
    infra: Infra, market_data_database_url: str, redis_proxy: TcpProxy
) -> AsyncIterator[FastAPI]:
    parts = urlsplit(infra.redis_url)
    proxied = urlunsplit(parts._replace(netloc=f"127.0.0.1:{redis_proxy.port}"))
    settings = settings_for(infra, market_data_database_url)
    settings.shared = SharedSettings(
        namespace=infra.namespace, amqp_url=infra.amqp_url, redis_url=proxied, log_json=False
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def client(app_behind_proxy: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app_behind_proxy)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://market-data", headers=INTERNAL_HEADERS
    ) as client:
        yield client


async def readiness(client: httpx.AsyncClient) -> tuple[int, str, str]:
    response = await client.get("/health/ready")
    body = response.json()
    return response.status_code, body["status"], body["checks"]["redis"]["status"]


async def test_quotes_are_served_stale_while_redis_is_down_and_fresh_after(
    app_behind_proxy: FastAPI,
    client: httpx.AsyncClient,
    redis_proxy: TcpProxy,
    infra: Infra,
) -> None:
    broker: Broker = runtime(app_behind_proxy).broker
    topology: Topology = runtime(app_behind_proxy).topology
    now = utc_now()
    before = around("70.00", "DOWN", now - timedelta(seconds=3))
    during = around("71.00", "DOWN", now - timedelta(seconds=2))
    late_during = around("69.00", "DOWN", now - timedelta(seconds=4))
    after = around("72.00", "DOWN", now - timedelta(seconds=1))

    response = await client.post(BATCH, json={"quotes": [before]})
    assert response.status_code == 200
    fresh = (await client.get(LATEST)).json()
    assert (fresh["bid_price"], fresh["sequence"], fresh["stale"]) == ("69.99", 1, False)

    redis_proxy.cut()

    stale = await client.get(LATEST)
    assert stale.status_code == 200
    assert stale.json() == {**fresh, "stale": True}
    assert await readiness(client) == (200, "degraded", "degraded")

    # Ingest goes on: a sequence from memory, the event published, the bars written.
    async with listening(broker, topology, "market.quote.DOWN") as inbox:
        response = await client.post(BATCH, json={"quotes": [during]})
        assert response.status_code == 200, response.text
        assert response.json()["quotes"][0]["sequence"] == 2
        published = (await inbox.next()).event.data_as(Quote)
    assert (published.symbol, published.sequence) == ("DOWN", 2)
    response = await client.post(BATCH, json={"quotes": [late_during]})
    assert response.json()["quotes"][0]["sequence"] == 3
    latest_during = (await client.get(LATEST)).json()
    assert (latest_during["bid_price"], latest_during["sequence"]) == ("70.99", 2)
    assert latest_during["stale"] is True
    several = (await client.get("/internal/v1/quotes/latest", params={"symbols": "DOWN"})).json()
    assert several["quotes"]["DOWN"]["stale"] is True

    async def bar_volume() -> int | None:
        bars = (await client.get("/internal/v1/bars/DOWN")).json()["data"]
        volume = sum(bar["v"] for bar in bars)
        return volume if volume == 3 else None

    await eventually(bar_volume, message="quotes ingested while Redis was down were not in bars")

    redis_proxy.restore()

    async def fresh_again() -> dict[str, object] | None:
        body: dict[str, object] = (await client.get(LATEST)).json()
        return None if body["stale"] else body

    recovered = await eventually(fresh_again, message="latest quote did not become fresh")
    assert (recovered["bid_price"], recovered["sequence"]) == ("70.99", 2)
    assert await readiness(client) == (200, "up", "up")

    # What this instance knew was written back to Redis: the latest quote with its own sequence,
    # the counter at the last sequence handed out (the late quote's).
    direct = aioredis.from_url(infra.redis_url, decode_responses=True)
    try:
        assert await direct.get(f"{infra.namespace}:market-data:sequence:DOWN") == "3"
        stored = await direct.hgetall(f"{infra.namespace}:market-data:latest:DOWN")
        assert (stored["bid_price"], stored["sequence"]) == ("70.99", "2")
    finally:
        await direct.aclose()
    response = await client.post(BATCH, json={"quotes": [after]})
    assert response.json()["quotes"][0]["sequence"] == 4
