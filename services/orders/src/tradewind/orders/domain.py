"""The order and its rules: placing (risk checks) and canceling. Pure: no I/O, no clock."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, localcontext
from uuid import UUID

from tradewind.common.contracts import (
    CancelRejected,
    OrderAccepted,
    OrderCanceled,
    OrderRejected,
    OrderSnapshot,
    PlaceOrder,
    RejectReason,
)
from tradewind.common.contracts.types import OrderStatus, OrderType, Side, TimeInForce

# Quantities and prices carry at most 18 significant digits each, so their product has at most
# 36; computing with more than that keeps the notional exact instead of rounded to 28 digits.
_EXACT_PRODUCT_PRECISION = 40


@dataclass(frozen=True)
class Order:
    id: UUID
    account_id: str
    client_order_id: str | None
    symbol: str
    side: Side
    type: OrderType
    qty: Decimal
    limit_price: Decimal | None
    time_in_force: TimeInForce
    status: OrderStatus
    submitted_at: datetime
    created_at: datetime
    updated_at: datetime
    filled_qty: Decimal = Decimal(0)
    accepted_at: datetime | None = None
    rejected_at: datetime | None = None
    canceled_at: datetime | None = None
    reject_reason: str | None = None
    version: int = 1

    @property
    def is_open(self) -> bool:
        return not self.status.is_terminal


def to_snapshot(order: Order) -> OrderSnapshot:
    return OrderSnapshot(
        id=order.id,
        account_id=order.account_id,
        client_order_id=order.client_order_id,
        symbol=order.symbol,
        side=order.side,
        type=order.type,
        qty=order.qty,
        limit_price=order.limit_price,
        time_in_force=order.time_in_force,
        status=order.status,
        filled_qty=order.filled_qty,
        submitted_at=order.submitted_at,
        created_at=order.created_at,
        updated_at=order.updated_at,
        accepted_at=order.accepted_at,
        rejected_at=order.rejected_at,
        canceled_at=order.canceled_at,
        reject_reason=order.reject_reason,
        version=order.version,
    )


@dataclass(frozen=True)
class RiskRules:
    """What an order must satisfy to be accepted."""

    symbols: Mapping[str, Decimal]
    """Tradable symbols and the reference price that values a market order."""
    max_notional: Decimal


def notional(qty: Decimal, price: Decimal) -> Decimal:
    with localcontext() as context:
        context.prec = _EXACT_PRODUCT_PRECISION
        return qty * price


@dataclass(frozen=True)
class Placement:
    order: Order
    event: OrderAccepted | OrderRejected


def place(
    command: PlaceOrder, rules: RiskRules, *, client_order_id_in_use: bool, now: datetime
) -> Placement:
    """Accept the order as ``new`` or reject it, naming the first rule it breaks."""
    order = Order(
        id=command.order_id,
        account_id=command.account_id,
        client_order_id=command.client_order_id,
        symbol=command.symbol,
        side=command.side,
        type=command.type,
        qty=command.qty,
        limit_price=command.limit_price,
        time_in_force=command.time_in_force,
        status=OrderStatus.NEW,
        submitted_at=command.submitted_at,
        created_at=now,
        updated_at=now,
        accepted_at=now,
    )
    violation = _first_violation(command, rules, client_order_id_in_use=client_order_id_in_use)
    if violation is None:
        return Placement(order, OrderAccepted(order=to_snapshot(order)))
    reason, message = violation
    rejected = dataclasses.replace(
        order,
        status=OrderStatus.REJECTED,
        accepted_at=None,
        rejected_at=now,
        reject_reason=reason.value,
    )
    return Placement(
        rejected, OrderRejected(order=to_snapshot(rejected), reason=reason, message=message)
    )


def _first_violation(
    command: PlaceOrder, rules: RiskRules, *, client_order_id_in_use: bool
) -> tuple[RejectReason, str] | None:
    reference_price = rules.symbols.get(command.symbol)
    if reference_price is None:
        return RejectReason.UNKNOWN_SYMBOL, f"symbol {command.symbol!r} is not traded here"
    if client_order_id_in_use:
        return (
            RejectReason.DUPLICATE_CLIENT_ORDER_ID,
            f"client_order_id {command.client_order_id!r} is already used by another order",
        )
    price = command.limit_price if command.limit_price is not None else reference_price
    value = notional(command.qty, price)
    if value > rules.max_notional:
        return (
            RejectReason.NOTIONAL_LIMIT_EXCEEDED,
            f"order notional {value:f} exceeds the limit of {rules.max_notional:f} per order",
        )
    return None


@dataclass(frozen=True)
class CancelOutcome:
    order: Order
    event: OrderCanceled | CancelRejected

    @property
    def changed(self) -> bool:
        return isinstance(self.event, OrderCanceled)


def cancel(order: Order, now: datetime) -> CancelOutcome:
    """Cancel an open order; a terminal one stays as it is and the cancel is refused."""
    if not order.is_open:
        return CancelOutcome(
            order,
            CancelRejected(
                order=to_snapshot(order), reason=f"order is already {order.status.value}"
            ),
        )
    canceled = dataclasses.replace(
        order,
        status=OrderStatus.CANCELED,
        canceled_at=now,
        updated_at=now,
        version=order.version + 1,
    )
    return CancelOutcome(canceled, OrderCanceled(order=to_snapshot(canceled)))
