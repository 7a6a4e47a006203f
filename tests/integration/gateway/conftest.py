"""Gateways in-process on this run's PostgreSQL, Redis and RabbitMQ.

The credentials of record live in this run's gateway database; each test has a Redis namespace
and a key store of its own. ``gateway_factory`` starts the gateway's authentication as
``create_app`` assembles it (``start_authentication``, the same function), with the routes that
need nothing else: keys, tokens, and the orders routes up to their scope checks; it needs no
broker and no upstream service, so those tests stay about credentials.

``gateways`` starts whole gateways in a namespace of their own. Nothing else publishes commands
in that namespace, so a queue bound to ``orders.place`` there holds exactly what these gateways
published. The orders service is not running: its command queue's place is taken by that queue
(a command needs a queue to be routed, or the gateway answers 503); reads go to a service a test
stands up (``Upstream``) or to a closed port.

``gateway_processes`` starts gateways as processes, for tests that kill one; ``private_redis``
is a ``redis-server`` of the test's own, for tests that kill Redis.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from integration.gateway.harness import SIGNING_KEY, Gateway, GatewayFactory, authentication_app
from integration.gateway.processes import GatewayProcesses
from support.infra import Infra
from support.namespace_cleanup import delete_namespace
from support.redis_server import RedisServer
from support.services import free_port
from tradewind.common.broker import Topology
from tradewind.common.settings import SharedSettings
from tradewind.gateway.adapters.credentials import migrate
from tradewind.gateway.app import create_app
from tradewind.gateway.domain.rate_limits import Budget
from tradewind.gateway.handlers.api_keys import ApiKeyStore, open_key_store
from tradewind.gateway.settings import GatewaySettings

_namespaces = itertools.count(1)


@pytest.fixture(scope="session")
async def gateway_database(infra: Infra) -> str:
    url = await infra.create_database("gateway")
    await migrate(url)
    return url


@pytest.fixture
async def namespace(infra: Infra) -> AsyncIterator[str]:
    # A Redis namespace per test: flushing one test's keys never touches another's. A gateway
    # declares the namespace's exchanges and shared queues: deleted once the test's gateways
    # (fixtures that use this one) have stopped.
    namespace = f"{infra.namespace}-gw{next(_namespaces)}"
    yield namespace
    await delete_namespace(infra.amqp_url, Topology(namespace))


@pytest.fixture
def gateway_factory(infra: Infra, gateway_database: str, namespace: str) -> GatewayFactory:
    """``async with gateway_factory(**setting_overrides) as gateway:`` — a started gateway."""

    @asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[Gateway]:
        values: dict[str, Any] = {
            "database_url": gateway_database,
            "migrate_on_start": False,
            "token_signing_key": SIGNING_KEY,
            "shared": SharedSettings(
                namespace=namespace,
                amqp_url=infra.amqp_url,
                redis_url=infra.redis_url,
                log_json=False,
            ),
            **overrides,
        }
        settings = GatewaySettings.model_validate(values)
        app = authentication_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://gateway", timeout=10
            ) as client:
                yield Gateway(app, client, settings)

    return start


@pytest.fixture
async def gateway(gateway_factory: GatewayFactory) -> AsyncIterator[Gateway]:
    async with gateway_factory() as started:
        yield started


@pytest.fixture
async def keys(infra: Infra, gateway_database: str, namespace: str) -> AsyncIterator[ApiKeyStore]:
    """The operator's store (what the CLI uses), on the same database and namespace."""
    async with open_key_store(gateway_database, infra.redis_url, namespace) as store:
        yield store


@pytest.fixture
async def redis(infra: Infra) -> AsyncIterator[Redis]:
    client = Redis.from_url(infra.redis_url)
    yield client
    await client.aclose()


_accounts = itertools.count(1)


@pytest.fixture
def account(namespace: str) -> str:
    """An account of this test's own (the database is shared by the run's tests)."""
    return f"acct-{namespace[-12:]}-{next(_accounts)}"


LIMIT_ORDER = {"symbol": "AAPL", "side": "buy", "type": "limit", "qty": "1", "limit_price": "10"}

StartGateway = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture(scope="module")
async def gateway_namespace(infra: Infra) -> AsyncIterator[str]:
    namespace = f"{infra.namespace}-gw{uuid.uuid4().hex[:6]}"
    yield namespace
    await delete_namespace(infra.amqp_url, Topology(namespace))


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

    async def take_order_ids(self) -> list[str]:
        """The order id of every command in the queue, in order, taking them off it."""
        assert self.name is not None
        queue = await self.channel.declare_queue(self.name, passive=True)
        order_ids = []
        while (message := await queue.get(no_ack=True, fail=False)) is not None:
            order_ids.append(json.loads(message.body)["data"]["order_id"])
        return order_ids

    async def count(self) -> int:
        # Commands are published with confirms, so once the gateway has answered, the command
        # is in the queue: the count needs no waiting.
        assert self.name is not None
        queue = await self.channel.declare_queue(self.name, passive=True)
        return int(queue.declaration_result.message_count or 0)


@pytest.fixture
async def gateways(
    infra: Infra, gateway_database: str, gateway_namespace: str
) -> AsyncIterator[tuple[StartGateway, PlacedCommands]]:
    """``start(**settings)`` starts one more gateway app and returns a client of it."""
    async with AsyncExitStack() as stack:
        connection = await aio_pika.connect(infra.amqp_url)
        stack.push_async_callback(connection.close)
        placed = PlacedCommands(await connection.channel(), gateway_namespace)
        closed_port = free_port()  # nothing listens there: proxied calls fail fast

        async def start(
            redis_url: str | None = None, shared: dict[str, Any] | None = None, **overrides: Any
        ) -> httpx.AsyncClient:
            settings = GatewaySettings(
                orders_url=overrides.pop("orders_url", f"http://127.0.0.1:{closed_port}"),
                market_data_url=f"http://127.0.0.1:{closed_port}",
                webhooks_url=f"http://127.0.0.1:{closed_port}",
                database_url=gateway_database,
                migrate_on_start=False,
                shared=SharedSettings(
                    namespace=gateway_namespace,
                    amqp_url=infra.amqp_url,
                    redis_url=redis_url or infra.redis_url,
                    log_json=False,
                ).model_copy(update=shared or {}),
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
    infra: Infra, gateway_database: str, gateway_namespace: str
) -> AsyncIterator[Callable[..., Awaitable[dict[str, str]]]]:
    """``issue(account=…, rate_budgets=…)``: a new key's Authorization header."""
    async with open_key_store(gateway_database, infra.redis_url, gateway_namespace) as store:

        async def issue(
            account: str | None = None, rate_budgets: tuple[Budget, ...] = ()
        ) -> dict[str, str]:
            issued = await store.create(
                account or f"acct-{uuid.uuid4().hex[:8]}", rate_budgets=rate_budgets
            )
            return {"Authorization": f"Bearer {issued.secret}"}

        yield issue


@pytest.fixture
def gateway_processes(
    infra: Infra, gateway_database: str, namespace: str
) -> Iterator[GatewayProcesses]:
    """``await gateway_processes.start(name, **env)``: gateway processes, stopped after the test."""
    processes = GatewayProcesses(infra, gateway_database, namespace)
    try:
        yield processes
    finally:
        processes.stop_all()


@pytest.fixture
async def private_redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    """A ``redis-server`` of the test's own, which it may kill; killed at the end in any case."""
    server = RedisServer(free_port(), tmp_path)
    try:
        server.start()
        await server.wait_ready()
        yield server
    finally:
        server.kill()
