"""The GraphQL types: the REST API's public models, field for field, in GraphQL's camelCase.

Each type is built from the model the shared reads return (``adapters.reads``), so REST and
GraphQL cannot disagree on a value. Decimals are the ``Decimal`` scalar (a string, as in REST),
times the ``DateTime`` scalar (ISO 8601, UTC).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import Enum
from uuid import UUID

import strawberry

from tradewind.common.contracts.account import AccountView
from tradewind.common.contracts.market import Instrument as InstrumentModel
from tradewind.common.contracts.types import OrderClass as OrderClassValue
from tradewind.common.contracts.types import OrderStatus as OrderStatusValue
from tradewind.common.contracts.types import OrderType as OrderTypeValue
from tradewind.common.contracts.types import Side as SideValue
from tradewind.common.contracts.types import TimeInForce as TimeInForceValue
from tradewind.gateway.api.graphql.context import Info, from_upstream, require_scope
from tradewind.gateway.api.graphql.cost import read_field
from tradewind.gateway.api.graphql.field_copy import same_named_fields
from tradewind.gateway.domain.connections import Window
from tradewind.gateway.domain.schemas import Bar as BarModel
from tradewind.gateway.domain.schemas import LatestQuote, StatusFilter
from tradewind.gateway.domain.schemas import Order as OrderModel
from tradewind.gateway.domain.schemas import Position as PositionModel
from tradewind.gateway.domain.schemas import Timeframe as TimeframeValue

OrderClass = strawberry.enum(OrderClassValue, name="OrderClass")
OrderStatus = strawberry.enum(OrderStatusValue, name="OrderStatus")
OrderType = strawberry.enum(OrderTypeValue, name="OrderType")
Side = strawberry.enum(SideValue, name="Side")
TimeInForce = strawberry.enum(TimeInForceValue, name="TimeInForce")


@strawberry.enum(description="An order status, or OPEN (not final), CLOSED (final) or ALL.")
class OrderStatusFilter(Enum):
    ALL = "all"
    OPEN = "open"
    CLOSED = "closed"
    PENDING_NEW = "pending_new"
    HELD = "held"
    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    EXPIRED = "expired"
    REJECTED = "rejected"
    REPLACED = "replaced"

    @property
    def upstream(self) -> StatusFilter:
        if self.value in ("all", "open", "closed"):
            return self.value  # type: ignore[return-value]
        return OrderStatusValue(self.value)


@strawberry.enum(description="Bar length.")
class Timeframe(Enum):
    ONE_MINUTE = "1Min"
    FIVE_MINUTES = "5Min"
    FIFTEEN_MINUTES = "15Min"
    ONE_HOUR = "1Hour"
    ONE_DAY = "1Day"

    @property
    def upstream(self) -> TimeframeValue:
        return self.value  # type: ignore[return-value]


@strawberry.type(description="An order of the account (Alpaca's field and status names).")
class Order:
    id: strawberry.ID
    client_order_id: str | None
    symbol: str
    side: Side  # type: ignore[valid-type]
    type: OrderType  # type: ignore[valid-type]
    qty: Decimal | None = strawberry.field(
        description="None for a notional order until it trades (it is sized then)."
    )
    notional: Decimal | None = strawberry.field(
        description="The dollar amount of a notional order."
    )
    limit_price: Decimal | None
    stop_price: Decimal | None = strawberry.field(
        description="A trailing stop's current stop price (it follows hwm)."
    )
    trail_price: Decimal | None
    trail_percent: Decimal | None
    hwm: Decimal | None = strawberry.field(
        description="A trailing stop's high-water mark: the highest bid (sell) or lowest ask "
        "(buy) since it was accepted."
    )
    time_in_force: TimeInForce  # type: ignore[valid-type]
    status: OrderStatus  # type: ignore[valid-type]
    filled_qty: Decimal
    filled_avg_price: Decimal | None
    submitted_at: datetime
    created_at: datetime
    updated_at: datetime
    accepted_at: datetime | None
    rejected_at: datetime | None
    canceled_at: datetime | None
    filled_at: datetime | None
    expired_at: datetime | None
    replaced_at: datetime | None
    stop_triggered_at: datetime | None
    reject_reason: str | None
    replaces_id: strawberry.ID | None = strawberry.field(
        description="The id of the order this one replaced."
    )
    replaced_by_id: strawberry.ID | None = strawberry.field(
        description="The id of the order that replaced this one."
    )
    order_class: OrderClass = strawberry.field(  # type: ignore[valid-type]
        description="simple, bracket, oco or oto (docs/orders.md, Order classes)."
    )
    parent_id: strawberry.ID | None = strawberry.field(
        description="The order whose leg this one is (bracket, oco, oto)."
    )
    legs: list[Order] | None = strawberry.field(
        description="The legs of a bracket, oco or oto parent (read with it, at no extra cost)."
    )

    @read_field("The order this one replaced (one more read).")
    async def replaces(self, info: Info) -> Order | None:
        return await _linked_order(info, self.replaces_id)

    @read_field("The order that replaced this one (one more read).")
    async def replaced_by(self, info: Info) -> Order | None:
        return await _linked_order(info, self.replaced_by_id)

    @classmethod
    def of(cls, order: OrderModel) -> Order:
        return same_named_fields(
            cls,
            order,
            id=strawberry.ID(str(order.id)),
            replaces_id=_id_or_none(order.replaces),
            replaced_by_id=_id_or_none(order.replaced_by),
            parent_id=_id_or_none(order.parent_id),
            legs=None if order.legs is None else [Order.of(leg) for leg in order.legs],
        )


def _id_or_none(value: UUID | None) -> strawberry.ID | None:
    return None if value is None else strawberry.ID(str(value))


async def _linked_order(info: Info, order_id: strawberry.ID | None) -> Order | None:
    """An order named by another of the same account: the account comes from the credential,
    as for every read."""
    if order_id is None:
        return None
    principal = require_scope(info, "orders:read")
    context = info.context
    found = await from_upstream(context.order_reads.order(principal.account_id, UUID(order_id)))
    return None if found is None else Order.of(found)


@strawberry.type(description="Where a connection page ends (Relay); paging is forward only.")
class PageInfo:
    has_next_page: bool
    has_previous_page: bool = strawberry.field(
        description="Always false: pages are read forward, with first and after."
    )
    start_cursor: str | None
    end_cursor: str | None

    @classmethod
    def of(cls, page: Window[object]) -> PageInfo:
        return same_named_fields(cls, page, has_previous_page=False)


@strawberry.type
class OrderEdge:
    cursor: str
    node: Order


@strawberry.type(description="The account's orders, newest first.")
class OrderConnection:
    edges: list[OrderEdge]
    page_info: PageInfo

    @classmethod
    def of(cls, page: Window[OrderModel]) -> OrderConnection:
        return cls(
            edges=[OrderEdge(cursor=cursor, node=Order.of(node)) for cursor, node in page.edges],
            page_info=PageInfo.of(page),  # type: ignore[arg-type]
        )


@strawberry.type(description="A position of the account; qty is signed (negative is short).")
class Position:
    symbol: str
    qty: Decimal
    avg_entry_price: Decimal
    realized_pl: Decimal
    updated_at: datetime

    @classmethod
    def of(cls, position: PositionModel) -> Position:
        return same_named_fields(cls, position)


@strawberry.type(
    description="Your account's ledger: cash, buying power (cash minus what open buy orders "
    "hold), equity and P&L with positions at the latest quotes."
)
class Account:
    account_id: str
    currency: str
    cash: Decimal
    equity: Decimal
    buying_power: Decimal
    held_for_orders: Decimal
    long_market_value: Decimal
    short_market_value: Decimal
    realized_pl: Decimal
    unrealized_pl: Decimal
    trading_blocked: bool

    @classmethod
    def of(cls, account: AccountView) -> Account:
        return same_named_fields(cls, account)


@strawberry.type(description="A tradable instrument.")
class Instrument:
    symbol: str
    name: str
    tick_size: Decimal
    lot_size: Decimal
    currency: str

    @classmethod
    def of(cls, instrument: InstrumentModel) -> Instrument:
        return same_named_fields(cls, instrument)


@strawberry.type(description="The latest top of book of a symbol.")
class Quote:
    symbol: str
    bid_price: Decimal
    bid_size: Decimal
    ask_price: Decimal
    ask_size: Decimal
    timestamp: datetime
    sequence: int
    stale: bool = strawberry.field(
        description="True when the quote store was unreachable and this is the last one known."
    )

    @classmethod
    def of(cls, quote: LatestQuote) -> Quote:
        return same_named_fields(cls, quote)


@strawberry.type(description="An OHLCV bar, named by when it starts.")
class Bar:
    time: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal

    @classmethod
    def of(cls, bar: BarModel) -> Bar:
        return cls(time=bar.t, open=bar.o, high=bar.h, low=bar.l, close=bar.c, volume=bar.v)


@strawberry.type
class BarEdge:
    cursor: str
    node: Bar


@strawberry.type(description="A symbol's bars, oldest first.")
class BarConnection:
    edges: list[BarEdge]
    page_info: PageInfo

    @classmethod
    def of(cls, page: Window[BarModel]) -> BarConnection:
        return cls(
            edges=[BarEdge(cursor=cursor, node=Bar.of(node)) for cursor, node in page.edges],
            page_info=PageInfo.of(page),  # type: ignore[arg-type]
        )
