"""The orders service's handlers, wired as the service wires them, on the in-memory broker and
the real database: a listing makes a symbol tradable, commands in one batch are placed while a
poison among them is parked alone, and a quote fills what it can."""

from __future__ import annotations

from decimal import Decimal

from integration.orders.flows import (
    Pool,
    event_types,
    listing_event,
    new_account,
    new_symbol,
    order_id_of,
    place_command,
    quote_event,
)
from tradewind.common.broker import Topology
from tradewind.common.broker.memory import InMemoryBroker
from tradewind.common.contracts import PlaceOrder
from tradewind.common.contracts.market import quote_routing_key
from tradewind.orders.handlers import (
    InstrumentHandler,
    OrderCommandHandler,
    QuoteHandler,
    StatementJobs,
    orders_subscriptions,
)


async def test_orders_handlers_on_the_in_memory_broker(
    orders_pool: Pool,
    orders_topology: Topology,
    orders_handler: OrderCommandHandler,
    quote_handler: QuoteHandler,
    instrument_handler: InstrumentHandler,
    statement_jobs: StatementJobs,
) -> None:
    broker = InMemoryBroker(orders_topology, max_attempts=2)
    subscriptions = orders_subscriptions(
        instrument_handler,
        orders_handler,
        quote_handler,
        statement_jobs,
        max_batch=16,
        max_wait_s=0,
    )
    await subscriptions.start(broker)
    symbol, account = new_symbol(), new_account()
    await broker.publish_event(listing_event(symbol))
    await broker.drain()

    resting = place_command(account, symbol, limit_price=Decimal("101"))
    marketable = place_command(account, symbol, limit_price=Decimal("100.5"))
    poison = place_command(account, symbol).model_copy(
        update={"data": {**place_command(account, symbol).data, "qty": "-1"}}
    )
    for command in (resting, poison, marketable):
        await broker.publish_command(command)
    await broker.drain()

    assert broker.parked_events(subscriptions.queue(orders_topology, "commands").name) == [poison]
    assert await event_types(orders_pool, order_id_of(resting)) == ["order.accepted"]
    # No quote yet: both rest until one comes.
    assert await event_types(orders_pool, order_id_of(marketable)) == ["order.accepted"]

    quote = quote_event(symbol, 1, ask="100.5")
    await broker.publish_event(quote, routing_key=quote_routing_key(symbol))
    await broker.drain()
    assert await event_types(orders_pool, order_id_of(resting)) == [
        "order.accepted",
        "order.filled",
    ]
    assert await event_types(orders_pool, order_id_of(marketable)) == [
        "order.accepted",
        "order.filled",
    ]
    assert PlaceOrder.TYPE not in {event.type for event in broker.unrouted}
