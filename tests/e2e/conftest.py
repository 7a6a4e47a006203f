"""The running system: orders and gateway as processes, on this run's vhost, databases and keys."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aio_pika
import asyncpg
import httpx
import pytest

from e2e.harness import (
    DEFAULT_SYMBOLS,
    MAX_ATTEMPTS,
    RETRY_DELAYS_MS,
    TOKEN_SIGNING_KEY,
    Spy,
    System,
)
from support.infra import Infra
from support.internal import SERVICE_CREDENTIALS
from support.polling import eventually
from support.services import ServiceProcess, free_port
from tradewind.common.envelope import CloudEvent
from tradewind.common.migrations import upgrade_database
from tradewind.market_data.app import SERVICE_DIR as MARKET_DATA_DIR
from tradewind.orders.app import SERVICE_DIR as ORDERS_DIR
from tradewind.webhooks.bootstrap import SERVICE_DIR as WEBHOOKS_DIR

pytestmark = pytest.mark.e2e


async def _migrated(infra: Infra, service: str, service_dir: Path) -> str:
    url = await infra.create_database(service)
    await asyncio.to_thread(upgrade_database, service_dir, url)
    return url


@pytest.fixture(scope="session")
async def system(infra: Infra) -> AsyncIterator[System]:
    # One after another: Alembic's migration context is process-global, not thread-safe.
    orders_db = await _migrated(infra, "orders", ORDERS_DIR)
    market_db = await _migrated(infra, "market_data", MARKET_DATA_DIR)
    webhooks_db = await _migrated(infra, "webhooks", WEBHOOKS_DIR)
    # Not migrated here: gateways migrate their database at start (under an advisory lock).
    gateway_db = await infra.create_database("gateway")
    ports = {name: free_port() for name in ("orders", "market_data", "webhooks", "gateway")}
    env = {
        "TRADEWIND_NAMESPACE": f"{infra.namespace}-e2e",
        "TRADEWIND_AMQP_URL": infra.amqp_url,
        "TRADEWIND_REDIS_URL": infra.redis_url,
        **SERVICE_CREDENTIALS,
        "TRADEWIND_RETRY_DELAYS_MS": json.dumps(RETRY_DELAYS_MS),
        "TRADEWIND_MAX_DELIVERY_ATTEMPTS": str(MAX_ATTEMPTS),
        "TRADEWIND_ORDERS_DATABASE_URL": orders_db,
        "TRADEWIND_ORDERS_PORT": str(ports["orders"]),
        "TRADEWIND_MARKET_DATA_DATABASE_URL": market_db,
        "TRADEWIND_MARKET_DATA_PORT": str(ports["market_data"]),
        # Tests drive prices themselves through the ingest endpoint.
        "TRADEWIND_MARKET_DATA_SIMULATOR_ENABLED": "false",
        "TRADEWIND_WEBHOOKS_DATABASE_URL": webhooks_db,
        "TRADEWIND_WEBHOOKS_PORT": str(ports["webhooks"]),
        "TRADEWIND_WEBHOOKS_MIGRATE_ON_START": "false",
        "TRADEWIND_WEBHOOKS_ALLOW_SUBNETS": "127.0.0.0/8",
        "TRADEWIND_WEBHOOKS_HTTPS_ONLY": "false",
        "TRADEWIND_WEBHOOKS_RETRY_SCHEDULE": "200ms,400ms,800ms",
        "TRADEWIND_GATEWAY_PORT": str(ports["gateway"]),
        "TRADEWIND_GATEWAY_DATABASE_URL": gateway_db,
        "TRADEWIND_GATEWAY_TOKEN_SIGNING_KEY": TOKEN_SIGNING_KEY,
        "TRADEWIND_GATEWAY_ORDERS_URL": f"http://127.0.0.1:{ports['orders']}",
        "TRADEWIND_GATEWAY_MARKET_DATA_URL": f"http://127.0.0.1:{ports['market_data']}",
        "TRADEWIND_GATEWAY_WEBHOOKS_URL": f"http://127.0.0.1:{ports['webhooks']}",
        # The session's few keys serve every test: budgets no test reaches (rate limits have
        # their own tests, on gateways of their own).
        **{
            f"TRADEWIND_GATEWAY_RATE_LIMIT_{budget}": "1000000"
            for budget in ("ORDERS", "READS", "WEBHOOKS", "WEBHOOK_TESTS", "KEYS")
        },
    }
    orders = ServiceProcess("orders", "tradewind.orders", ports["orders"], env).start()
    webhooks = ServiceProcess("webhooks", "tradewind.webhooks", ports["webhooks"], env).start()
    await asyncio.gather(orders.wait_ready(), webhooks.wait_ready())
    # Orders trades only what market-data lists: start it once orders' queues exist.
    market_data = ServiceProcess(
        "market-data", "tradewind.market_data", ports["market_data"], env
    ).start()
    await market_data.wait_ready()
    await _wait_for_instruments(orders_db)
    gateway = ServiceProcess("gateway", "tradewind.gateway", ports["gateway"], env).start()
    await gateway.wait_ready()
    try:
        yield System(infra, env, orders, gateway, market_data, webhooks)
    finally:
        for process in (gateway, market_data, webhooks, orders):
            process.stop()


async def _wait_for_instruments(orders_db: str) -> None:
    connection = await asyncpg.connect(orders_db.replace("postgresql+asyncpg", "postgresql"))
    try:

        async def listed() -> bool:
            count = await connection.fetchval("SELECT count(*) FROM instruments")
            return bool(count and count >= len(DEFAULT_SYMBOLS))

        await eventually(listed, timeout=30, message="orders never learned the instruments")
    finally:
        await connection.close()


@pytest.fixture(scope="session")
async def api_keys(system: System) -> dict[str, str]:
    return {account: (await system.create_key(account)).secret for account in ("alice", "bob")}


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
    async for spy in _spy(system.infra, f"{system.namespace}.events", "#"):
        yield spy


@pytest.fixture
async def commands_spy(system: System) -> AsyncIterator[Spy]:
    async for spy in _spy(system.infra, f"{system.namespace}.commands", "#"):
        yield spy


@pytest.fixture
def extra_gateway(system: System) -> Iterator[list[ServiceProcess]]:
    """Gateways a test starts with its own settings; stopped after the test."""
    started: list[ServiceProcess] = []
    yield started
    for process in started:
        process.stop()
