"""The whole service through the real broker: two instances sharing the queues, day expiry."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from aio_pika.abc import AbstractIncomingMessage
from fastapi import FastAPI

from integration.orders.flows import (
    Pool,
    cancel_command,
    delivery_of,
    executions_of,
    handle_one,
    last_sequence,
    listing_event,
    new_account,
    new_symbol,
    order_id_of,
    place_command,
    position_of,
    quote_event,
    stored_order,
    symbol_orders,
)
from support.infra import Infra
from support.polling import eventually
from support.runtime import runtime_in
from tradewind.common.broker import QueueSpec
from tradewind.common.contracts import quote_routing_key
from tradewind.common.contracts.types import OrderStatus, OrderType, Side, TimeInForce, utc_now
from tradewind.common.envelope import CloudEvent
from tradewind.common.settings import SharedSettings
from tradewind.orders.adapters import OrderReads
from tradewind.orders.app import create_app
from tradewind.orders.bootstrap import OrdersRuntime
from tradewind.orders.handlers import OrderCommandHandler, quote_queue
from tradewind.orders.settings import OrdersSettings


def service_settings(infra: Infra, database_url: str, **overrides: Any) -> OrdersSettings:
    """Small pools and prefetch: the test's instances share one PostgreSQL with the test run."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "database_pool_size": 3,
        "api_pool_size": 1,
        "quote_concurrency": 2,
        "shared": SharedSettings(
            namespace=infra.namespace, amqp_url=infra.amqp_url, log_json=False, prefetch=8
        ),
    }
    values.update(overrides)
    return OrdersSettings(**values)


@asynccontextmanager
async def running(settings: OrdersSettings, instances: int) -> AsyncIterator[list[FastAPI]]:
    """``instances`` orders services in this process, each with its own pool and connection."""
    async with AsyncExitStack() as stack:
        apps = []
        for _ in range(instances):
            app = create_app(settings)
            await stack.enter_async_context(app.router.lifespan_context(app))
            apps.append(app)
        yield apps


class EventSpy:
    """An outside consumer of the events exchange, recording what the service published."""

    def __init__(self) -> None:
        self.events: list[CloudEvent] = []

    @classmethod
    async def start(cls, app: FastAPI, routing_keys: Iterable[str]) -> EventSpy:
        runtime = runtime_in(app, OrdersRuntime)
        broker, topology = runtime.broker, runtime.topology
        spy = cls()
        queue = await broker.declare_queue(
            QueueSpec(f"{topology.namespace}.test.spy.{uuid4().hex[:8]}", exclusive=True)
        )
        for routing_key in routing_keys:
            await queue.bind(topology.events, routing_key=routing_key)

        async def record(message: AbstractIncomingMessage) -> None:
            spy.events.append(CloudEvent.from_json(message.body))

        await queue.consume(record, no_ack=True)
        return spy

    def of_type(self, event_type: str) -> list[CloudEvent]:
        return [event for event in self.events if event.type == event_type]


async def is_listed(pool: Pool, symbol: str) -> bool:
    return await OrderReads(pool).instrument(symbol) is not None


def random_order(rng: random.Random, account_id: str, symbol: str) -> CloudEvent:
    """An order every quote of the test can trade: limits are far on the good side."""
    side = rng.choice([Side.BUY, Side.SELL])
    fields: dict[str, Any] = {
        "side": side,
        "qty": Decimal(rng.randint(1, 8)),
        "time_in_force": rng.choice([TimeInForce.GTC, TimeInForce.GTC, TimeInForce.IOC]),
    }
    if rng.random() < 0.3:
        fields.update(type=OrderType.MARKET, limit_price=None)
    else:
        fields["limit_price"] = Decimal("101") if side is Side.BUY else Decimal("99")
    return place_command(account_id, symbol, **fields)


async def test_two_instances_on_the_same_queues_never_fill_an_order_twice(
    infra: Infra, orders_database_url: str, orders_pool: Pool
) -> None:
    rng = random.Random(20250303)
    symbol = new_symbol()
    accounts = [new_account() for _ in range(4)]
    settings = service_settings(infra, orders_database_url)
    async with running(settings, instances=2) as (first, _second):
        runtime = runtime_in(first, OrdersRuntime)
        broker = runtime.broker
        spy = await EventSpy.start(first, ["order.filled", "order.partially_filled"])
        consumers = await broker.declare_queue(quote_queue(runtime.topology))
        assert consumers.declaration_result.consumer_count == 2

        async def publish_quote(sequence: int, **prices: Any) -> None:
            quote = quote_event(symbol, sequence, **prices)
            await broker.publish_event(quote, routing_key=quote_routing_key(symbol))

        await broker.publish_event(listing_event(symbol))
        await eventually(lambda: is_listed(orders_pool, symbol), message="never listed")
        await publish_quote(1, bid="99.95", ask="100.05", bid_size="0", ask_size="0")

        async def first_quote_processed() -> bool:
            return await last_sequence(orders_pool, symbol) == 1

        await eventually(first_quote_processed, message="the first quote was not processed")
        places = [random_order(rng, rng.choice(accounts), symbol) for _ in range(40)]
        await asyncio.gather(*(broker.publish_command(place) for place in places))

        async def all_placed() -> bool:
            return len(await symbol_orders(orders_pool, symbol)) == len(places)

        await eventually(all_placed, message="not every order was placed")

        cancels = [
            cancel_command(place.data["account_id"], order_id_of(place))
            for place in rng.sample(places, 10)
        ]
        final_sequence = 61
        for sequence in range(2, final_sequence):
            await publish_quote(
                sequence,
                bid=str(Decimal("99.95") + Decimal(rng.randint(-4, 4)) / 100),
                ask=str(Decimal("100.05") + Decimal(rng.randint(-4, 4)) / 100),
                bid_size=str(rng.randint(0, 5)),
                ask_size=str(rng.randint(0, 5)),
            )
            if sequence % 5 == 0 and cancels:
                await broker.publish_command(cancels.pop())
        await publish_quote(final_sequence, bid_size="100000", ask_size="100000")

        async def settled() -> bool:
            if await last_sequence(orders_pool, symbol) != final_sequence:
                return False
            stored = await symbol_orders(orders_pool, symbol)
            return all(order.status.is_terminal for order in stored)

        await eventually(settled, timeout=30, message="the orders did not all settle")

        orders = await symbol_orders(orders_pool, symbol)
        signed_by_account: dict[str, Decimal] = defaultdict(Decimal)
        execution_ids: set[str] = set()
        for order in orders:
            fills = await executions_of(orders_pool, order.id)
            assert sum(fill.qty for fill in fills) == order.filled_qty, order
            assert order.qty is not None
            assert order.filled_qty <= order.qty
            assert len({fill.quote_sequence for fill in fills}) == len(fills)
            if order.status is OrderStatus.FILLED:
                assert order.filled_qty == order.qty
            assert order.filled_notional == sum(
                (fill.qty * fill.price for fill in fills), Decimal(0)
            )
            for fill in fills:
                signed_by_account[order.account_id] += (
                    fill.qty if fill.side is Side.BUY else -fill.qty
                )
                execution_ids.add(str(fill.id))
        assert execution_ids, "the quotes filled something"
        for account in accounts:
            position = await position_of(orders_pool, account, symbol)
            held = Decimal(0) if position is None else position.qty
            assert held == signed_by_account[account], account

        async def every_fill_published() -> bool:
            published = {event.id for event in spy.events if event.subject}
            return execution_ids <= published

        await eventually(every_fill_published, message="not every fill event was published")
        # The run's other tests share the database; their relayed events are not this test's.
        fill_events = [
            event
            for event in spy.of_type("order.filled") + spy.of_type("order.partially_filled")
            if event.data["order"]["symbol"] == symbol
        ]
        assert {event.id for event in fill_events} == execution_ids
        assert all(event.data["execution_id"] == event.id for event in fill_events)


async def test_day_orders_expire_at_the_market_close(
    infra: Infra,
    orders_database_url: str,
    orders_pool: Pool,
    orders_handler: OrderCommandHandler,
) -> None:
    session_end = utc_now() + timedelta(seconds=2)
    settings = service_settings(
        infra,
        orders_database_url,
        expiry_sweep_interval_s=0.2,
        # Every day trades, in UTC, and today's session closes in two seconds.
        shared=SharedSettings(
            namespace=infra.namespace,
            amqp_url=infra.amqp_url,
            log_json=False,
            prefetch=8,
            market_timezone="UTC",
            market_open=time(0, 0),
            market_close=max(session_end.time(), time(0, 0, 1)),
            market_weekdays=list(range(7)),
            market_holidays=[],
            market_early_closes={},
        ),
    )
    account = new_account()
    day = place_command(account, "AAPL", time_in_force=TimeInForce.DAY)
    gtc = place_command(account, "AAPL", time_in_force=TimeInForce.GTC)
    for command in (day, gtc):
        await handle_one(orders_handler, command, delivery_of(command))

    async with running(settings, instances=1) as (app,):
        spy = await EventSpy.start(app, ["order.expired"])

        async def expired() -> Any:
            order = await stored_order(orders_pool, account, order_id_of(day))
            return order if order.status is OrderStatus.EXPIRED else None

        order = await eventually(expired, timeout=10, message="the day order did not expire")
        assert order.expired_at is not None
        assert order.expired_at >= session_end
        assert order.expired_at == order.updated_at
        still = await stored_order(orders_pool, account, order_id_of(gtc))
        assert still.status is OrderStatus.NEW

        async def announced() -> list[CloudEvent]:
            return [
                event for event in spy.of_type("order.expired") if event.subject == str(order.id)
            ]

        (event,) = await eventually(announced, message="order.expired was not published")
        assert event.data["order"]["status"] == "expired"
        assert UUID(event.data["order"]["id"]) == order.id
