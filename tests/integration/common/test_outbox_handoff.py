"""Outbox hand-off against real PostgreSQL and RabbitMQ: the writer publishes its committed rows
at once, relays leave them alone for the lease and take over what the writer could not publish."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import asyncpg
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import MetaData

from integration.common.test_outbox import Note
from support.infra import Infra
from support.polling import eventually
from tradewind.common.broker import Binding, Broker, Delivery, QueueSpec, Topology
from tradewind.common.db import create_pool
from tradewind.common.envelope import CloudEvent, new_event
from tradewind.common.outbox import OutboxMessage, OutboxRelay, outbox_message, outbox_table
from tradewind.common.outbox_handoff import OutboxHandoff
from tradewind.common.sql import create_engine

metadata = MetaData()
OUTBOX = outbox_table(metadata)
LEASE_S = 30.0


@pytest.fixture(scope="module")
async def pool(infra: Infra) -> AsyncIterator[asyncpg.Pool]:
    url = await infra.create_database("handoff")
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    await engine.dispose()
    pool = await create_pool(infra.database_url("handoff"), max_size=4)
    yield pool
    await pool.close()


@pytest.fixture
async def clean_pool(pool: asyncpg.Pool) -> asyncpg.Pool:
    await pool.execute("DELETE FROM outbox")
    return pool


def notes(topology: Topology, *numbers: int) -> list[OutboxMessage]:
    return [
        outbox_message(
            new_event(source="/tests", data=Note(n=n), event_type="test.noted"),
            exchange=topology.events,
        )
        for n in numbers
    ]


async def commit(pool: asyncpg.Pool, messages: Sequence[OutboxMessage], lease_s: float) -> None:
    """Write the rows as a writer that hands them off does: held from the relays for the lease."""
    await pool.executemany(
        """
        INSERT INTO outbox (message_id, message_type, exchange, routing_key, body, headers,
                            relay_after)
        VALUES ($1, $2, $3, $4, $5, $6::jsonb, now() + make_interval(secs => $7))
        """,
        [(*message.sql_params(), lease_s) for message in messages],
    )


async def collect(broker: Broker, topology: Topology) -> list[int]:
    """The notes published, as a consumer receives them. An exclusive queue: gone with the
    test's connection, it leaves no quorum queue (and none of RabbitMQ's file handles) held
    until the run's vhost is deleted."""
    received: list[int] = []

    async def handler(event: CloudEvent, delivery: Delivery) -> None:
        received.append(event.data_as(Note).n)

    spec = QueueSpec(
        topology.queue_name("test", "handoff-notes"),
        [Binding(topology.events, "test.noted")],
        exclusive=True,
    )
    await broker.consume(spec, handler)
    return received


async def unpublished(pool: asyncpg.Pool) -> int:
    count: int = await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
    return count


async def all_marked(pool: asyncpg.Pool) -> bool:
    return await unpublished(pool) == 0


async def relay_published_some(relay: OutboxRelay) -> bool:
    return await relay.publish_pending() > 0


def relay_of(pool: asyncpg.Pool, broker: Broker) -> OutboxRelay:
    return OutboxRelay(pool=pool, broker=broker, listen_dsn=None)


async def test_handed_off_rows_are_published_in_order_once_and_marked(
    clean_pool: asyncpg.Pool, broker: Broker, topology: Topology
) -> None:
    received = await collect(broker, topology)
    handoff = OutboxHandoff(pool=clean_pool, broker=broker, lease_s=LEASE_S)
    marker = asyncio.create_task(handoff.run())
    batches = [notes(topology, *range(n * 5, n * 5 + 5)) for n in range(20)]
    for batch in batches:
        await commit(clean_pool, batch, LEASE_S)
    # A relay pass before the hand-off: the rows are held for the writer.
    assert await relay_of(clean_pool, broker).publish_pending() == 0

    for batch in batches:  # one hand-off per transaction, as fast as they come
        handoff.hand_off(batch)

    await eventually(lambda: asyncio.sleep(0, len(received) >= 100))
    await eventually(
        lambda: all_marked(clean_pool), message="confirmed rows were not marked published"
    )
    assert received == list(range(100)), "published once each, in hand-off order"
    handoff.finish()
    await asyncio.wait_for(marker, 10)


async def test_rows_the_broker_refused_go_back_to_the_relay_at_once(
    clean_pool: asyncpg.Pool, broker: Broker, topology: Topology, infra: Infra
) -> None:
    received = await collect(broker, topology)
    away = Broker(infra.amqp_url, topology, service="test")  # never connected: every publish fails
    handoff = OutboxHandoff(pool=clean_pool, broker=away, lease_s=LEASE_S)
    marker = asyncio.create_task(handoff.run())
    failures_before = _metric("tradewind_outbox_publish_failures_total")
    batch = notes(topology, 1, 2, 3)
    await commit(clean_pool, batch, handoff.lease_s)

    handoff.hand_off(batch)
    await eventually(
        lambda: asyncio.sleep(
            0, _metric("tradewind_outbox_publish_failures_total") - failures_before == 3
        )
    )

    # The lease (30 s) is far beyond the deadline: the relay can only take the rows in time if
    # the hand-off gave them back.
    relay = relay_of(clean_pool, broker)
    await eventually(lambda: relay_published_some(relay), timeout=10)
    await eventually(lambda: asyncio.sleep(0, sorted(received) == [1, 2, 3]))
    assert await unpublished(clean_pool) == 0
    handoff.finish()
    await asyncio.wait_for(marker, 10)


async def test_rows_never_handed_off_go_to_the_relay_when_the_lease_ends(
    clean_pool: asyncpg.Pool, broker: Broker, topology: Topology
) -> None:
    # The writer committed and died before its hand-off: nobody lifts the lease.
    received = await collect(broker, topology)
    await commit(clean_pool, notes(topology, 7, 8), lease_s=0.5)

    relay = relay_of(clean_pool, broker)
    await eventually(lambda: relay_published_some(relay), timeout=10)
    await eventually(lambda: asyncio.sleep(0, sorted(received) == [7, 8]))
    assert await unpublished(clean_pool) == 0


async def test_finish_publishes_and_marks_what_was_handed_off_before_it(
    clean_pool: asyncpg.Pool, broker: Broker, topology: Topology
) -> None:
    received = await collect(broker, topology)
    handoff = OutboxHandoff(pool=clean_pool, broker=broker, lease_s=LEASE_S)
    marker = asyncio.create_task(handoff.run())
    batch = notes(topology, *range(50))
    await commit(clean_pool, batch, LEASE_S)

    handoff.hand_off(batch)
    handoff.finish()

    await asyncio.wait_for(marker, 10)
    assert await unpublished(clean_pool) == 0, "run returned before marking what it published"
    await eventually(lambda: asyncio.sleep(0, len(received) == 50))


def test_a_hand_off_without_a_lease_is_refused(broker: Broker) -> None:
    with pytest.raises(ValueError, match="lease"):
        OutboxHandoff(pool=None, broker=broker, lease_s=0)  # type: ignore[arg-type]


def _metric(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0
