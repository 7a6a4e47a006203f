"""What the execution tests say and read: commands, quotes and listings as the broker would hand
them to the handlers, and the database's view of orders, executions, positions and events."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from asyncpg import Pool as Pool

from tradewind.common.broker import Delivery, Incoming
from tradewind.common.contracts import (
    CancelOrder,
    Contract,
    Instrument,
    InstrumentListed,
    PlaceOrder,
    Quote,
    ReplaceOrder,
)
from tradewind.common.contracts.types import OrderType, Side, TimeInForce, utc_now
from tradewind.common.envelope import CloudEvent, new_event
from tradewind.orders.adapters import OrderReads
from tradewind.orders.domain import Execution, Order, Position
from tradewind.orders.handlers import InstrumentHandler, OrderCommandHandler, QuoteHandler

ARRIVAL_QUOTE_AGE = timedelta(seconds=2)
"""How fresh the latest quote must be for an order to trade on arrival, in these tests."""


def new_account() -> str:
    return f"acct-{uuid4().hex[:12]}"


def new_symbol() -> str:
    return f"T{uuid4().hex[:10].upper()}"


# --- messages ---


def message(
    data: Contract, *, account_id: str | None = None, time: datetime | None = None
) -> CloudEvent:
    return new_event(
        source="/tradewind/tests",
        data=data,
        event_type=data.TYPE,
        account_id=account_id,
        correlation_id=f"req-{uuid4().hex[:8]}",
        time=time,
    )


def place_command(account_id: str, symbol: str, **overrides: Any) -> CloudEvent:
    """A gtc limit buy of 10 at 100 unless overridden."""
    fields: dict[str, Any] = {
        "order_id": uuid4(),
        "account_id": account_id,
        "symbol": symbol,
        "side": Side.BUY,
        "type": OrderType.LIMIT,
        "qty": Decimal("10"),
        "limit_price": Decimal("100"),
        "time_in_force": TimeInForce.GTC,
        "submitted_at": utc_now(),
    }
    fields.update(overrides)
    return message(PlaceOrder(**fields), account_id=account_id)


def cancel_command(account_id: str, order_id: UUID) -> CloudEvent:
    return message(
        CancelOrder(order_id=order_id, account_id=account_id, requested_at=utc_now()),
        account_id=account_id,
    )


def replace_command(account_id: str, order_id: UUID, **changes: Any) -> CloudEvent:
    return message(
        ReplaceOrder(
            order_id=order_id,
            new_order_id=uuid4(),
            account_id=account_id,
            requested_at=utc_now(),
            **changes,
        ),
        account_id=account_id,
    )


def quote_event(
    symbol: str,
    sequence: int,
    *,
    bid: str = "99.5",
    ask: str = "100.5",
    bid_size: str = "1000",
    ask_size: str = "1000",
    age_s: float = 0.0,
) -> CloudEvent:
    """A quote of the market as it is now, or ``age_s`` seconds ago."""
    return message(
        Quote(
            symbol=symbol,
            bid_price=Decimal(bid),
            bid_size=Decimal(bid_size),
            ask_price=Decimal(ask),
            ask_size=Decimal(ask_size),
            timestamp=utc_now() - timedelta(seconds=age_s),
            sequence=sequence,
        )
    )


LOT_SIZE = Decimal("0.001")
"""The test listings trade fractional shares, to a thousandth."""


def listing_event(
    symbol: str, *, time: datetime | None = None, name: str = "Test Inc."
) -> CloudEvent:
    instrument = Instrument(symbol=symbol, name=name, tick_size=Decimal("0.01"), lot_size=LOT_SIZE)
    return message(InstrumentListed(instrument=instrument), time=time)


def delivery_of(event: CloudEvent, *, attempt: int = 1, message_id: str | None = None) -> Delivery:
    return Delivery(
        queue="orders.tests",
        message_id=message_id or event.id,
        attempt=attempt,
        redelivered=attempt > 1,
        routing_key=event.type,
    )


def order_id_of(command: CloudEvent) -> UUID:
    return UUID(command.data["order_id"])


async def handle_one(
    handler: OrderCommandHandler, command: CloudEvent, delivery: Delivery | None = None
) -> None:
    """Hand one command to the batch handler as the consumer would hand a batch of one; what
    the handler leaves out of its commit (to retry or to park) is raised, as it would fail."""
    outcome = await handler([Incoming(command, delivery or delivery_of(command), {})])
    for failures in (outcome.park, outcome.retry):
        if failures:
            raise failures[0]


# --- the database's view ---


async def stored_order(pool: Pool, account_id: str, order_id: UUID) -> Order:
    order = await OrderReads(pool).order(account_id, order_id)
    assert order is not None, f"order {order_id} is not stored"
    return order


async def order_exists(pool: Pool, order_id: UUID) -> bool:
    return bool(await pool.fetchval("SELECT count(*) FROM orders WHERE id = $1", order_id))


async def executions_of(pool: Pool, order_id: UUID) -> list[Execution]:
    return await OrderReads(pool).order_executions(order_id)


async def position_of(pool: Pool, account_id: str, symbol: str) -> Position | None:
    return await OrderReads(pool).position(account_id, symbol)


async def events_about(pool: Pool, order_id: UUID) -> list[CloudEvent]:
    """The events staged in the outbox about ``order_id``, oldest first."""
    # The subject is inside the JSON body; narrowing by its bytes keeps this fast as the outbox
    # of the test run grows.
    rows = await pool.fetch(
        "SELECT body FROM outbox WHERE position($1::bytea in body) > 0 ORDER BY id",
        str(order_id).encode(),
    )
    events = [CloudEvent.from_json(row["body"]) for row in rows]
    return [event for event in events if event.subject == str(order_id)]


async def event_types(pool: Pool, order_id: UUID) -> list[str]:
    return [event.type for event in await events_about(pool, order_id)]


async def symbol_orders(pool: Pool, symbol: str) -> list[Order]:
    rows = await pool.fetch("SELECT id, account_id FROM orders WHERE symbol = $1", symbol)
    return [await stored_order(pool, row["account_id"], row["id"]) for row in rows]


async def symbol_executions(pool: Pool, symbol: str) -> list[Execution]:
    rows = await pool.fetch("SELECT DISTINCT order_id FROM executions WHERE symbol = $1", symbol)
    found: list[Execution] = []
    for row in rows:
        found += await executions_of(pool, row["order_id"])
    return found


async def execution_count(pool: Pool, symbol: str) -> int:
    count = await pool.fetchval("SELECT count(*) FROM executions WHERE symbol = $1", symbol)
    return int(count or 0)


async def last_sequence(pool: Pool, symbol: str) -> int:
    value = await pool.fetchval("SELECT last_sequence FROM symbol_books WHERE symbol = $1", symbol)
    return int(value or 0)


# --- one symbol of one test, driven through the handlers ---


@dataclass
class Desk:
    """A freshly listed symbol and the handlers that trade it; quotes get the next sequence."""

    commands: OrderCommandHandler
    quotes: QuoteHandler
    instruments: InstrumentHandler
    pool: Pool
    symbol: str = field(default_factory=new_symbol)
    sequences: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def list(self) -> None:
        listing = listing_event(self.symbol)
        await self.instruments.handle(listing, delivery_of(listing))

    async def place(self, account_id: str, **fields: Any) -> UUID:
        command = place_command(account_id, self.symbol, **fields)
        await handle_one(self.commands, command)
        return order_id_of(command)

    async def cancel(self, account_id: str, order_id: UUID) -> CloudEvent:
        command = cancel_command(account_id, order_id)
        await handle_one(self.commands, command)
        return command

    async def replace(self, account_id: str, order_id: UUID, **changes: Any) -> CloudEvent:
        command = replace_command(account_id, order_id, **changes)
        await handle_one(self.commands, command)
        return command

    def next_quote(self, *, age_s: float = 0.0, **prices: str) -> CloudEvent:
        return quote_event(self.symbol, next(self.sequences), age_s=age_s, **prices)

    async def quote(self, *, age_s: float = 0.0, **prices: str) -> CloudEvent:
        event = self.next_quote(age_s=age_s, **prices)
        await self.quotes.handle(event, delivery_of(event))
        return event

    async def order(self, account_id: str, order_id: UUID) -> Order:
        return await stored_order(self.pool, account_id, order_id)
