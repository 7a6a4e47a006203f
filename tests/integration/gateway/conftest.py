"""Gateways in-process on this run's Redis and RabbitMQ, in a namespace of their own.

Nothing else publishes commands in that namespace, so a queue bound to ``orders.place`` there
holds exactly what these gateways published. The orders service is not running: its command
queue's place is taken by that queue (a command needs a queue to be routed, or the gateway
answers 503); reads go to a service a test stands up (``Upstream``) or to a closed port.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import aio_pika
import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from support.infra import Infra
from support.services import free_port
from tradewind.common.broker import Topology
from tradewind.common.settings import SharedSettings
from tradewind.gateway.app import create_app
from tradewind.gateway.auth import ApiKeyStore
from tradewind.gateway.rate_limits import Budget
from tradewind.gateway.settings import GatewaySettings

LIMIT_ORDER = {"symbol": "AAPL", "side": "buy", "type": "limit", "qty": "1", "limit_price": "10"}

StartGateway = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture(scope="module")
def gateway_namespace(infra: Infra) -> str:
    return f"{infra.namespace}-gw{uuid.uuid4().hex[:6]}"


class PlacedCommands:
    """A queue bound to the namespace's orders.place commands; counted without consuming."""

    def __init__(self, channel: aio_pika.abc.AbstractChannel, namespace: str) -> None:
        self.channel = channel
        self.namespace = namespace
        self.name: str | None = None

    async def bind(self) -> None:
        """Once the first gateway has declared the namespace's exchanges."""
        if self.name is None:
            queue = await self.channel.declare_queue(exclusive=True)
            await queue.bind(Topology(self.namespace).commands, "orders.place")
            self.name = queue.name

    async def count(self) -> int:
        # Commands are published with confirms, so once the gateway has answered, the command
        # is in the queue: the count needs no waiting.
        assert self.name is not None
        queue = await self.channel.declare_queue(self.name, passive=True)
        return int(queue.declaration_result.message_count or 0)


@pytest.fixture
async def gateways(
    infra: Infra, gateway_namespace: str
) -> AsyncIterator[tuple[StartGateway, PlacedCommands]]:
    """``start(**settings)`` starts one more gateway app and returns a client of it."""
    async with AsyncExitStack() as stack:
        connection = await aio_pika.connect(infra.amqp_url)
        stack.push_async_callback(connection.close)
        placed = PlacedCommands(await connection.channel(), gateway_namespace)
        closed_port = free_port()  # nothing listens there: proxied calls fail fast

        async def start(redis_url: str | None = None, **overrides: Any) -> httpx.AsyncClient:
            settings = GatewaySettings(
                orders_url=overrides.pop("orders_url", f"http://127.0.0.1:{closed_port}"),
                market_data_url=f"http://127.0.0.1:{closed_port}",
                webhooks_url=f"http://127.0.0.1:{closed_port}",
                shared=SharedSettings(
                    namespace=gateway_namespace,
                    amqp_url=infra.amqp_url,
                    redis_url=redis_url or infra.redis_url,
                    log_json=False,
                ),
                **overrides,
            )
            app = create_app(settings)
            await stack.enter_async_context(app.router.lifespan_context(app))
            await placed.bind()
            return await stack.enter_async_context(_client(app))

        yield start, placed


@asynccontextmanager
async def _client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        yield client


@pytest.fixture
async def issue_key(
    infra: Infra, gateway_namespace: str
) -> AsyncIterator[Callable[..., Awaitable[dict[str, str]]]]:
    """``issue(account=…, rate_limits=…)``: a new key's Authorization header."""
    redis = Redis.from_url(infra.redis_url)
    store = ApiKeyStore(redis, gateway_namespace)

    async def issue(
        account: str | None = None, rate_limits: tuple[Budget, ...] = ()
    ) -> dict[str, str]:
        issued = await store.create(
            account or f"acct-{uuid.uuid4().hex[:8]}", rate_limits=rate_limits
        )
        return {"Authorization": f"Bearer {issued.secret}"}

    yield issue
    await redis.aclose()
