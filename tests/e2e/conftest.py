"""The running system: orders and gateway as processes, on this run's vhost, databases and keys."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator

import aio_pika
import httpx
import pytest
from redis.asyncio import Redis

from e2e.harness import MAX_ATTEMPTS, RETRY_DELAYS_MS, Spy, System
from support.infra import Infra
from support.services import ServiceProcess, free_port
from tradewind.common.envelope import CloudEvent
from tradewind.common.migrations import upgrade_database
from tradewind.gateway.auth import ApiKeyStore
from tradewind.orders.app import SERVICE_DIR as ORDERS_DIR

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="session")
async def system(infra: Infra) -> AsyncIterator[System]:
    orders_db = await infra.create_database("orders")
    await asyncio.to_thread(upgrade_database, ORDERS_DIR, orders_db)
    orders_port, gateway_port = free_port(), free_port()
    env = {
        "TRADEWIND_NAMESPACE": infra.namespace,
        "TRADEWIND_AMQP_URL": infra.amqp_url,
        "TRADEWIND_REDIS_URL": infra.redis_url,
        "TRADEWIND_RETRY_DELAYS_MS": json.dumps(RETRY_DELAYS_MS),
        "TRADEWIND_MAX_DELIVERY_ATTEMPTS": str(MAX_ATTEMPTS),
        "TRADEWIND_ORDERS_DATABASE_URL": orders_db,
        "TRADEWIND_ORDERS_PORT": str(orders_port),
        "TRADEWIND_GATEWAY_PORT": str(gateway_port),
        "TRADEWIND_GATEWAY_ORDERS_URL": f"http://127.0.0.1:{orders_port}",
    }
    orders = ServiceProcess("orders", "tradewind.orders", orders_port, env).start()
    await orders.wait_ready()
    gateway = ServiceProcess("gateway", "tradewind.gateway", gateway_port, env).start()
    await gateway.wait_ready()
    try:
        yield System(infra, env, orders, gateway)
    finally:
        gateway.stop()
        orders.stop()


@pytest.fixture(scope="session")
async def api_keys(system: System) -> AsyncIterator[dict[str, str]]:
    redis = Redis.from_url(system.infra.redis_url)
    store = ApiKeyStore(redis, system.infra.namespace)
    keys = {account: (await store.create(account)).secret for account in ("alice", "bob")}
    yield keys
    await redis.aclose()


@pytest.fixture
async def client(system: System) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=system.gateway.url, timeout=10) as http:
        yield http


async def _spy(infra: Infra, exchange: str, routing_key: str) -> AsyncIterator[Spy]:
    spy = Spy()
    connection = await aio_pika.connect(infra.amqp_url)
    channel = await connection.channel()
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(exchange, routing_key)

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with message.process():
            spy.messages.append((CloudEvent.from_json(message.body), dict(message.headers or {})))

    await queue.consume(on_message)
    try:
        yield spy
    finally:
        await connection.close()


@pytest.fixture
async def events_spy(system: System) -> AsyncIterator[Spy]:
    async for spy in _spy(system.infra, f"{system.infra.namespace}.events", "#"):
        yield spy


@pytest.fixture
async def commands_spy(system: System) -> AsyncIterator[Spy]:
    async for spy in _spy(system.infra, f"{system.infra.namespace}.commands", "#"):
        yield spy


@pytest.fixture
def extra_gateway(system: System) -> Iterator[list[ServiceProcess]]:
    """Gateways a test starts with its own settings; stopped after the test."""
    started: list[ServiceProcess] = []
    yield started
    for process in started:
        process.stop()
