"""Orders, commands and quotes for the pure-domain tests: working orders as the store would load
them, place commands as a client would send them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from tradewind.common.contracts import PlaceOrder, Quote, ReplaceOrder
from tradewind.common.contracts.types import OrderStatus, OrderType, Side, TimeInForce
from tradewind.orders.domain import MarketView, Order, RiskRules, SymbolBook, place

SYMBOL = "ACME"
T0 = datetime(2025, 3, 3, 14, 30, tzinfo=UTC)
MARKET_BUY: Mapping[str, Any] = {"side": Side.BUY, "type": OrderType.MARKET, "qty": Decimal("10")}


def place_command(kind: Mapping[str, Any] = MARKET_BUY, **overrides: Any) -> PlaceOrder:
    """A new order from acct-1 for ``SYMBOL``, submitted at ``T0``: ``kind`` holds the fields of
    the orders a test file works with (side, type, size, prices), ``overrides`` one test's."""
    fields: dict[str, Any] = {
        "order_id": uuid4(),
        "account_id": "acct-1",
        "symbol": SYMBOL,
        "submitted_at": T0,
        **kind,
    }
    fields.update(overrides)
    return PlaceOrder(**fields)


def replace_of(order: Order, *, requested_at: datetime, **changes: Any) -> ReplaceOrder:
    """Its owner's request to replace ``order`` by a new order with ``changes``."""
    return ReplaceOrder(
        order_id=order.id,
        new_order_id=uuid4(),
        account_id=order.account_id,
        requested_at=requested_at,
        **changes,
    )


def accepted_order_of(
    command: PlaceOrder, rules: RiskRules, view: MarketView, *, now: datetime
) -> Order:
    """The order ``place`` makes of ``command``; the test stops here if it was rejected."""
    placement = place(command, rules, view, client_order_id_in_use=False, now=now)
    assert placement.order.status is OrderStatus.NEW, placement.event
    return placement.order


def working_order(
    *,
    side: Side = Side.BUY,
    order_type: OrderType = OrderType.MARKET,
    qty: str | Decimal = "10",
    limit: str | None = None,
    stop: str | None = None,
    tif: TimeInForce = TimeInForce.GTC,
    account: str = "acct-1",
    age: int = 0,
    order_id: UUID | None = None,
    **overrides: Any,
) -> Order:
    """An accepted order; a larger ``age`` (seconds) makes it older, so earlier in priority."""
    created = T0 - timedelta(seconds=age)
    fields: dict[str, Any] = {
        "id": order_id or uuid4(),
        "account_id": account,
        "client_order_id": None,
        "symbol": SYMBOL,
        "side": side,
        "type": order_type,
        "qty": Decimal(qty),
        "limit_price": None if limit is None else Decimal(limit),
        "stop_price": None if stop is None else Decimal(stop),
        "time_in_force": tif,
        "status": OrderStatus.NEW,
        "submitted_at": created,
        "created_at": created,
        "updated_at": created,
        "accepted_at": created,
    }
    fields.update(overrides)
    return Order(**fields)


def quote(
    sequence: int,
    *,
    bid: str = "100",
    ask: str = "100.5",
    bid_size: str = "1000",
    ask_size: str = "1000",
    symbol: str = SYMBOL,
) -> Quote:
    return Quote(
        symbol=symbol,
        bid_price=Decimal(bid),
        bid_size=Decimal(bid_size),
        ask_price=Decimal(ask),
        ask_size=Decimal(ask_size),
        timestamp=T0 + timedelta(seconds=sequence),
        sequence=sequence,
    )


def empty_book(symbol: str = SYMBOL) -> SymbolBook:
    return SymbolBook(symbol)
