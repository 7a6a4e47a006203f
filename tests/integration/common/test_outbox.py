"""Outbox and inbox against real PostgreSQL and RabbitMQ."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import asyncpg
import pytest
from prometheus_client import REGISTRY
from pydantic import BaseModel
from sqlalchemy import MetaData, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from support.infra import Infra
from support.polling import eventually
from support.tcp_proxy import TcpProxy
from tradewind.common.broker import Binding, Broker, Delivery, QueueSpec, Topology
from tradewind.common.db import asyncpg_dsn, create_pool
from tradewind.common.envelope import CloudEvent, new_event
from tradewind.common.outbox import Inbox, Outbox, OutboxRelay, inbox_table, outbox_table
from tradewind.common.sql import create_engine, session_factory

metadata = MetaData()
OUTBOX = outbox_table(metadata)
INBOX = inbox_table(metadata)


class Note(BaseModel):
    n: int


def note(n: int) -> CloudEvent:
    return new_event(source="/tests", data=Note(n=n), event_type="test.noted")


@pytest.fixture(scope="module")
async def engine(infra: Infra) -> AsyncIterator[AsyncEngine]:
    url = await infra.create_database("common")
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="module")
async def pool(engine: AsyncEngine, infra: Infra) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(infra.database_url("common"), max_size=4)
    yield pool
    await pool.close()


@pytest.fixture
async def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    async with engine.begin() as connection:
        await connection.execute(OUTBOX.delete())
        await connection.execute(INBOX.delete())
    return session_factory(engine)


async def collect(broker: Broker, topology: Topology) -> list[int]:
    received: list[int] = []

    async def handler(event: CloudEvent, delivery: Delivery) -> None:
        received.append(event.data_as(Note).n)

    await broker.consume(
        QueueSpec(topology.queue_name("test", "notes"), [Binding(topology.events, "test.noted")]),
        handler,
    )
    return received


@contextlib.asynccontextmanager
async def running(relay: OutboxRelay) -> AsyncIterator[None]:
    task = asyncio.create_task(relay.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_committed_rows_are_published_and_rolled_back_rows_are_not(
    sessions: async_sessionmaker[AsyncSession],
    pool: asyncpg.Pool,
    broker: Broker,
    topology: Topology,
    infra: Infra,
) -> None:
    received = await collect(broker, topology)
    outbox = Outbox(OUTBOX)
    async with sessions() as session, session.begin():
        await outbox.add(session, note(1), exchange=topology.events)
    with contextlib.suppress(RuntimeError):
        async with sessions() as session, session.begin():
            await outbox.add(session, note(2), exchange=topology.events)
            raise RuntimeError("the state change failed")
    relay = OutboxRelay(
        pool=pool, broker=broker, listen_dsn=asyncpg_dsn(infra.database_url("common"))
    )
    async with running(relay):
        await eventually(lambda: asyncio.sleep(0, received))
        async with sessions() as session, session.begin():
            await outbox.add(session, note(3), exchange=topology.events)
        await eventually(lambda: asyncio.sleep(0, sorted(received) == [1, 3]))
        # The relay marks rows published after the broker confirmed them, which can be after a
        # consumer already has the message: wait for the mark, do not assume it.
        await eventually(
            lambda: _no_unpublished(relay), message="published rows were not marked published"
        )
    assert sorted(received) == [1, 3]


async def _no_unpublished(relay: OutboxRelay) -> bool:
    return await relay.unpublished() == 0


async def test_rows_written_while_broker_unreachable_are_published_when_it_returns(
    sessions: async_sessionmaker[AsyncSession],
    pool: asyncpg.Pool,
    broker: Broker,
    topology: Topology,
    amqp_proxy: tuple[TcpProxy, str],
) -> None:
    proxy, url = amqp_proxy
    received = await collect(broker, topology)
    relay_broker = Broker(url, topology, service="relay", publish_timeout_s=1)
    await relay_broker.connect()
    relay = OutboxRelay(pool=pool, broker=relay_broker, listen_dsn=None, poll_interval_s=0.1)
    outbox = Outbox(OUTBOX)
    try:
        async with running(relay):
            proxy.cut()
            for n in range(5):
                async with sessions() as session, session.begin():
                    await outbox.add(session, note(n), exchange=topology.events)

            async def failed_attempts() -> int:
                async with sessions() as session:
                    return int(await session.scalar(select(func.max(OUTBOX.c.attempts))) or 0)

            await eventually(failed_attempts, message="relay never tried while cut")
            assert received == []
            proxy.restore()
            await eventually(
                lambda: asyncio.sleep(0, sorted(received) == [0, 1, 2, 3, 4]), timeout=30
            )
    finally:
        await relay_broker.close()


async def test_the_backlog_gauge_counts_the_rows_waiting_for_an_unreachable_broker(
    sessions: async_sessionmaker[AsyncSession],
    pool: asyncpg.Pool,
    topology: Topology,
    amqp_proxy: tuple[TcpProxy, str],
) -> None:
    proxy, url = amqp_proxy
    relay_broker = Broker(url, topology, service="relay", publish_timeout_s=1)
    await relay_broker.connect()
    # A batch smaller than the backlog: the relay has to count what it did not claim.
    relay = OutboxRelay(pool=pool, broker=relay_broker, listen_dsn=None, batch_size=3)
    outbox = Outbox(OUTBOX)

    def backlog() -> float | None:
        return REGISTRY.get_sample_value("tradewind_outbox_backlog")

    try:
        proxy.cut()
        async with sessions() as session, session.begin():
            for n in range(7):
                await outbox.add(session, note(n), exchange=topology.events)
        assert await relay.publish_pending() == 0
        assert backlog() == 7

        proxy.restore()

        async def drained() -> bool:
            await relay.publish_pending()
            return backlog() == 0

        await eventually(drained, timeout=30, interval=0.2, message="the backlog never drained")
        assert await relay.unpublished() == 0
    finally:
        await relay_broker.close()


async def test_rows_left_by_a_crash_are_published_by_the_next_relay(
    sessions: async_sessionmaker[AsyncSession],
    pool: asyncpg.Pool,
    broker: Broker,
    topology: Topology,
) -> None:
    received = await collect(broker, topology)
    outbox = Outbox(OUTBOX)
    async with sessions() as session, session.begin():
        for n in range(3):
            await outbox.add(session, note(n), exchange=topology.events)
    # No relay was running when they were committed (the process died): a new one sends them.
    relay = OutboxRelay(pool=pool, broker=broker, listen_dsn=None)
    assert await relay.publish_pending() == 3
    assert await relay.publish_pending() == 0
    await eventually(lambda: asyncio.sleep(0, sorted(received) == [0, 1, 2]))


async def test_a_finishing_relay_flushes_every_committed_row_and_then_returns(
    sessions: async_sessionmaker[AsyncSession],
    pool: asyncpg.Pool,
    broker: Broker,
    topology: Topology,
) -> None:
    received = await collect(broker, topology)
    outbox = Outbox(OUTBOX)
    # More than two passes' worth, and a poll interval no test waits out: only the flush that
    # ``finish`` asks for publishes them.
    relay = OutboxRelay(
        pool=pool, broker=broker, listen_dsn=None, batch_size=20, poll_interval_s=3600
    )
    task = asyncio.create_task(relay.run())
    await eventually(lambda: _no_unpublished(relay), message="first pass never ran")
    async with sessions() as session, session.begin():
        for n in range(45):
            await outbox.add(session, note(n), exchange=topology.events)

    relay.finish()
    await eventually(lambda: asyncio.sleep(0, task.done()), message="relay did not return")

    assert task.exception() is None
    assert await relay.unpublished() == 0, "the relay returned before the outbox was flushed"
    await eventually(lambda: asyncio.sleep(0, sorted(received) == list(range(45))))


async def test_inbox_claims_a_message_once(sessions: async_sessionmaker[AsyncSession]) -> None:
    inbox = Inbox(INBOX, consumer="test")
    async with sessions() as session, session.begin():
        assert await inbox.claim(session, "m-1") is True
    async with sessions() as session, session.begin():
        assert await inbox.claim(session, "m-1") is False
    other = Inbox(INBOX, consumer="other")
    async with sessions() as session, session.begin():
        assert await other.claim(session, "m-1") is True


async def test_inbox_claim_rolls_back_with_the_effect(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    inbox = Inbox(INBOX, consumer="test")
    with contextlib.suppress(RuntimeError):
        async with sessions() as session, session.begin():
            await inbox.claim(session, "m-2")
            raise RuntimeError("effect failed")
    async with sessions() as session, session.begin():
        assert await inbox.claim(session, "m-2") is True
