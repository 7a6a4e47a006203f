"""Orders and quotes for the pure-domain tests: working orders as the store would load them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from tradewind.common.contracts import Quote
from tradewind.common.contracts.types import OrderStatus, OrderType, Side, TimeInForce
from tradewind.orders.domain import Order, SymbolBook

SYMBOL = "ACME"
T0 = datetime(2025, 3, 3, 14, 30, tzinfo=UTC)


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
