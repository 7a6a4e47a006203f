"""The webhooks event intake, its handler, on the in-memory broker and the real database: the
events queue is bound to what endpoints subscribe to, an event becomes one delivery per
subscribed endpoint of its account, a redelivery changes nothing, and what nobody subscribed to
never reaches the service."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from integration.webhooks.harness import market_quote, new_endpoint, order_accepted
from tradewind.common.broker import Topology
from tradewind.common.broker.memory import InMemoryBroker
from tradewind.common.contracts import quote_routing_key
from tradewind.common.db import asyncpg_dsn
from tradewind.webhooks.adapters.bindings import EventBindings
from tradewind.webhooks.bootstrap import events_queue
from tradewind.webhooks.handlers.use_cases import EventIntake


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(asyncpg_dsn(database_url), min_size=1, max_size=4)
    yield pool
    await pool.close()


async def deliveries_of(pool: asyncpg.Pool, endpoint_id: str) -> int:
    count: int = await pool.fetchval(
        "SELECT count(*) FROM deliveries WHERE endpoint_id = $1", endpoint_id
    )
    return count


async def test_events_become_deliveries_for_the_subscribed_endpoints_only(
    database_url: str, pool: asyncpg.Pool
) -> None:
    topology = Topology("memory")
    broker = InMemoryBroker(topology)
    queue = events_queue(topology)
    bindings = EventBindings(pool, broker, queue=queue, exchange=topology.events)
    intake = EventIntake(pool, consumer=queue.name, max_payload_bytes=65_536, concurrency=2)
    await broker.consume(queue, intake)
    subscriber = await new_endpoint(pool, "acc-1", ["order.*"])
    await bindings.reconcile()

    mine, other_account = order_accepted("acc-1"), order_accepted("acc-2")
    quote = market_quote("AAPL")
    for event in (mine, other_account):
        await broker.publish_event(event)
    await broker.publish_event(quote, routing_key=quote_routing_key("AAPL"))
    await broker.publish_event(mine)  # a redelivery of the same event
    await broker.drain()

    assert await deliveries_of(pool, subscriber.id) == 1
    assert broker.acked[queue.name] == [mine.id, other_account.id, mine.id]
    assert broker.unrouted == [quote]  # nobody wants quotes: the queue is not bound to them
    assert broker.parked[queue.name] == []
