"""What the execution tests say and read: commands, quotes and listings as the broker would hand
them to the handlers, and the database's view of orders, executions, positions and events."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tradewind.common.broker import Delivery
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
from tradewind.orders.domain import Execution, Order, Position
from tradewind.orders.handlers import OrderCommandHandler
from tradewind.orders.market import InstrumentHandler, QuoteHandler
from tradewind.orders.store import ExecutionStore, OrderStore, executions, orders, outbox

Sessions = async_sessionmaker[AsyncSession]


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
) -> CloudEvent:
    return message(
        Quote(
            symbol=symbol,
            bid_price=Decimal(bid),
            bid_size=Decimal(bid_size),
            ask_price=Decimal(ask),
            ask_size=Decimal(ask_size),
            timestamp=utc_now(),
            sequence=sequence,
        )
    )


def listing_event(
    symbol: str, *, time: datetime | None = None, name: str = "Test Inc."
) -> CloudEvent:
    instrument = Instrument(
        symbol=symbol, name=name, tick_size=Decimal("0.01"), lot_size=Decimal(1)
    )
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


# --- the database's view ---


async def stored_order(sessions: Sessions, account_id: str, order_id: UUID) -> Order:
    async with sessions() as session:
        order = await OrderStore(session).get(account_id, order_id)
    assert order is not None, f"order {order_id} is not stored"
    return order


async def order_exists(sessions: Sessions, order_id: UUID) -> bool:
    async with sessions() as session:
        return await OrderStore(session).exists(order_id)


async def executions_of(sessions: Sessions, order_id: UUID) -> list[Execution]:
    async with sessions() as session:
        return await ExecutionStore(session).order_executions(order_id)


async def position_of(sessions: Sessions, account_id: str, symbol: str) -> Position | None:
    async with sessions() as session:
        return await ExecutionStore(session).position(account_id, symbol)


async def events_about(sessions: Sessions, order_id: UUID) -> list[CloudEvent]:
    """The events staged in the outbox about ``order_id``, oldest first."""
    async with sessions() as session:
        # The subject is inside the JSON body; narrowing by its bytes keeps this fast as the
        # outbox of the test run grows.
        rows = (
            await session.execute(
                select(outbox.c.body)
                .where(outbox.c.body.like(b"%" + str(order_id).encode() + b"%"))
                .order_by(outbox.c.id)
            )
        ).all()
    events = [CloudEvent.from_json(row.body) for row in rows]
    return [event for event in events if event.subject == str(order_id)]


async def event_types(sessions: Sessions, order_id: UUID) -> list[str]:
    return [event.type for event in await events_about(sessions, order_id)]


async def symbol_orders(sessions: Sessions, symbol: str) -> list[Order]:
    async with sessions() as session:
        rows = await session.execute(
            select(orders.c.id, orders.c.account_id).where(orders.c.symbol == symbol)
        )
        keys = rows.all()
    return [await stored_order(sessions, row.account_id, row.id) for row in keys]


async def symbol_executions(sessions: Sessions, symbol: str) -> list[Execution]:
    async with sessions() as session:
        order_ids = (
            await session.scalars(
                select(executions.c.order_id).where(executions.c.symbol == symbol).distinct()
            )
        ).all()
    found: list[Execution] = []
    for order_id in order_ids:
        found += await executions_of(sessions, order_id)
    return found


async def execution_count(sessions: Sessions, symbol: str) -> int:
    async with sessions() as session:
        count = await session.scalar(select(func.count()).where(executions.c.symbol == symbol))
    return int(count or 0)


# --- one symbol of one test, driven through the handlers ---


@dataclass
class Desk:
    """A freshly listed symbol and the handlers that trade it; quotes get the next sequence."""

    commands: OrderCommandHandler
    quotes: QuoteHandler
    instruments: InstrumentHandler
    sessions: Sessions
    symbol: str = field(default_factory=new_symbol)
    sequences: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def list(self) -> None:
        listing = listing_event(self.symbol)
        await self.instruments.handle(listing, delivery_of(listing))

    async def place(self, account_id: str, **fields: Any) -> UUID:
        command = place_command(account_id, self.symbol, **fields)
        await self.commands.handle(command, delivery_of(command))
        return order_id_of(command)

    async def cancel(self, account_id: str, order_id: UUID) -> CloudEvent:
        command = cancel_command(account_id, order_id)
        await self.commands.handle(command, delivery_of(command))
        return command

    async def replace(self, account_id: str, order_id: UUID, **changes: Any) -> CloudEvent:
        command = replace_command(account_id, order_id, **changes)
        await self.commands.handle(command, delivery_of(command))
        return command

    def next_quote(self, **prices: str) -> CloudEvent:
        return quote_event(self.symbol, next(self.sequences), **prices)

    async def quote(self, **prices: str) -> CloudEvent:
        event = self.next_quote(**prices)
        await self.quotes.handle(event, delivery_of(event))
        return event

    async def order(self, account_id: str, order_id: UUID) -> Order:
        return await stored_order(self.sessions, account_id, order_id)
