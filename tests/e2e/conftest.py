"""The running system: orders and gateway as processes, on this run's vhost, databases and keys."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import aio_pika
import httpx
import pytest

from e2e.harness import MAX_ATTEMPTS, RETRY_DELAYS_MS, Spy, System
from support.flags_file import FlagsFile
from support.infra import Infra
from support.services import ServiceProcess
from support.system import SystemPorts, create_system_databases, start_system, system_env
from tradewind.common.envelope import CloudEvent

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="session")
def system_flags(tmp_path_factory: pytest.TempPathFactory) -> FlagsFile:
    """The system's flags file, every flag off; a test that switches one restores it (the
    ``flags`` fixture of test_flags.py)."""
    flags = FlagsFile(tmp_path_factory.mktemp("flags") / "flags.json")
    flags.all_off()
    return flags


@pytest.fixture(scope="session")
async def system(infra: Infra, system_flags: FlagsFile) -> AsyncIterator[System]:
    # Databases of their own: under the integration tests' names, each would first be dropped,
    # and a drop waits for PostgreSQL's checkpoint, which on a busy machine with this run's
    # thousands of files took minutes (inside the first e2e test's timeout).
    databases = await create_system_databases(infra, prefix="e2e_")
    ports = SystemPorts.free()
    env = system_env(
        infra,
        namespace=f"{infra.namespace}-e2e",
        databases=databases,
        ports=ports,
        retry_delays_ms=RETRY_DELAYS_MS,
        max_delivery_attempts=MAX_ATTEMPTS,
        overrides={
            "TRADEWIND_FLAGS_FILE": str(system_flags.path),
            "TRADEWIND_FLAGS_POLL_MS": "100",
            # Few trade updates kept per account, pruned often: a stream resume reaching back
            # further than that gets a snapshot within a test's time (test_stream_reconnect.py).
            "TRADEWIND_ORDERS_TRADE_UPDATES_RETAINED": "12",
            "TRADEWIND_ORDERS_TRADE_UPDATES_PRUNE_INTERVAL_S": "0.2",
        },
    )
    processes = await start_system(env, ports)
    try:
        yield System(
            infra,
            env,
            processes.orders,
            processes.gateway,
            processes.market_data,
            processes.webhooks,
        )
    finally:
        processes.stop()


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
