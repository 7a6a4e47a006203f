"""Rows of the orders database to domain objects and back (asyncpg records, column lists)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tradewind.common.contracts import Instrument
from tradewind.common.contracts.types import (
    OrderClass,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from tradewind.orders.adapters.tables import ORDER_COLUMNS
from tradewind.orders.domain import Execution, Order, Position, SymbolBook

Row = Mapping[str, Any]


def order_from_row(row: Row) -> Order:
    return Order(
        id=row["id"],
        account_id=row["account_id"],
        client_order_id=row["client_order_id"],
        symbol=row["symbol"],
        side=Side(row["side"]),
        type=OrderType(row["type"]),
        qty=row["qty"],
        limit_price=row["limit_price"],
        stop_price=row["stop_price"],
        time_in_force=TimeInForce(row["time_in_force"]),
        status=OrderStatus(row["status"]),
        filled_qty=row["filled_qty"],
        filled_notional=row["filled_notional"],
        submitted_at=row["submitted_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        accepted_at=row["accepted_at"],
        rejected_at=row["rejected_at"],
        canceled_at=row["canceled_at"],
        filled_at=row["filled_at"],
        expired_at=row["expired_at"],
        replaced_at=row["replaced_at"],
        stop_triggered_at=row["stop_triggered_at"],
        replaces=row["replaces"],
        replaced_by=row["replaced_by"],
        reject_reason=row["reject_reason"],
        version=row["version"],
        order_class=OrderClass(row["order_class"]),
        parent_id=row["parent_id"],
        notional=row["notional"],
        trail_price=row["trail_price"],
        trail_percent=row["trail_percent"],
        hwm=row["hwm"],
    )


def order_values(order: Order) -> tuple[Any, ...]:
    """The order's column values, in ``ORDER_COLUMNS`` order."""
    values: dict[str, Any] = {
        "id": order.id,
        "account_id": order.account_id,
        "client_order_id": order.client_order_id,
        "symbol": order.symbol,
        "side": order.side.value,
        "type": order.type.value,
        "qty": order.qty,
        "limit_price": order.limit_price,
        "stop_price": order.stop_price,
        "time_in_force": order.time_in_force.value,
        "status": order.status.value,
        "filled_qty": order.filled_qty,
        "filled_notional": order.filled_notional,
        "submitted_at": order.submitted_at,
        "created_at": order.created_at,
        "updated_at": order.updated_at,
        "accepted_at": order.accepted_at,
        "rejected_at": order.rejected_at,
        "canceled_at": order.canceled_at,
        "filled_at": order.filled_at,
        "expired_at": order.expired_at,
        "replaced_at": order.replaced_at,
        "stop_triggered_at": order.stop_triggered_at,
        "replaces": order.replaces,
        "replaced_by": order.replaced_by,
        "reject_reason": order.reject_reason,
        "version": order.version,
        "order_class": order.order_class.value,
        "parent_id": order.parent_id,
        "notional": order.notional,
        "trail_price": order.trail_price,
        "trail_percent": order.trail_percent,
        "hwm": order.hwm,
    }
    return tuple(values[name] for name in ORDER_COLUMNS)


def order_columns_of(orders: Sequence[Order]) -> list[list[Any]]:
    """Orders as one list per column (``ORDER_COLUMNS`` order), for an ``unnest`` of arrays."""
    if not orders:
        return [[] for _ in ORDER_COLUMNS]
    rows = [order_values(order) for order in orders]
    return [list(column) for column in zip(*rows, strict=True)]


def book_from_row(row: Row) -> SymbolBook:
    return SymbolBook(
        symbol=row["symbol"],
        last_sequence=row["last_sequence"],
        bid_price=row["bid_price"],
        bid_size=row["bid_size"],
        ask_price=row["ask_price"],
        ask_size=row["ask_size"],
        quoted_at=row["quoted_at"],
        bid_available=row["bid_available"],
        ask_available=row["ask_available"],
    )


def position_from_row(row: Row) -> Position:
    return Position(
        account_id=row["account_id"],
        symbol=row["symbol"],
        qty=row["qty"],
        cost_basis=row["cost_basis"],
        realized_pl=row["realized_pl"],
        updated_at=row["updated_at"],
    )


def execution_from_row(row: Row) -> Execution:
    return Execution(
        id=row["id"],
        order_id=row["order_id"],
        account_id=row["account_id"],
        symbol=row["symbol"],
        side=Side(row["side"]),
        qty=row["qty"],
        price=row["price"],
        quote_sequence=row["quote_sequence"],
        executed_at=row["executed_at"],
    )


def instrument_from_row(row: Row) -> Instrument:
    return Instrument(
        symbol=row["symbol"],
        name=row["name"],
        tick_size=row["tick_size"],
        lot_size=row["lot_size"],
        currency=row["currency"],
    )
