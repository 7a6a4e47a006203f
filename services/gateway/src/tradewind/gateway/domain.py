"""What the gateway decides on its own: the order id, the command, the pending view. No I/O."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from tradewind.common.contracts import PlaceOrder, ReplaceOrder
from tradewind.common.contracts.types import OrderStatus
from tradewind.gateway.schemas import Order, OrderRequest, ReplaceRequest


def place_command(request: OrderRequest, *, account_id: str, now: datetime) -> PlaceOrder:
    return PlaceOrder(
        order_id=uuid.uuid4(),
        account_id=account_id,
        symbol=request.symbol,
        side=request.side,
        type=request.type,
        qty=request.qty,
        limit_price=request.limit_price,
        stop_price=request.stop_price,
        time_in_force=request.time_in_force,
        client_order_id=request.client_order_id,
        submitted_at=now,
    )


def pending_view(command: PlaceOrder) -> Order:
    """The order as it stands before the orders service has decided on it."""
    return Order(
        id=command.order_id,
        client_order_id=command.client_order_id,
        symbol=command.symbol,
        side=command.side,
        type=command.type,
        qty=command.qty,
        limit_price=command.limit_price,
        stop_price=command.stop_price,
        time_in_force=command.time_in_force,
        status=OrderStatus.PENDING_NEW,
        filled_qty=Decimal(0),
        submitted_at=command.submitted_at,
        created_at=command.submitted_at,
        updated_at=command.submitted_at,
    )


@dataclass(frozen=True)
class ReplaceRefusal:
    status: int
    title: str
    detail: str
    field: str | None = None


def check_replace(order: Order, request: ReplaceRequest) -> ReplaceRefusal | None:
    """Why this replace cannot even be submitted, or None. Races are decided by orders.

    A request names at least one field (``ReplaceRequest`` refuses an empty one)."""
    if order.status == OrderStatus.PENDING_NEW:
        return ReplaceRefusal(
            409, "Order is pending", "The order is not accepted yet; replace it once it is new."
        )
    if order.status.is_terminal:
        return ReplaceRefusal(
            422, "Order cannot be replaced", f"The order is already {order.status.value}."
        )
    if request.limit_price is not None and not order.type.needs_limit_price:
        return ReplaceRefusal(
            422,
            "Your request is not valid.",
            f"{order.type.value} orders have no limit_price.",
            field="limit_price",
        )
    if request.stop_price is not None and not order.type.needs_stop_price:
        return ReplaceRefusal(
            422,
            "Your request is not valid.",
            f"{order.type.value} orders have no stop_price.",
            field="stop_price",
        )
    return None


def replace_command(
    order: Order, request: ReplaceRequest, *, account_id: str, now: datetime
) -> ReplaceOrder:
    return ReplaceOrder(
        order_id=order.id,
        new_order_id=uuid.uuid4(),
        account_id=account_id,
        qty=request.qty,
        limit_price=request.limit_price,
        stop_price=request.stop_price,
        time_in_force=request.time_in_force,
        client_order_id=request.client_order_id,
        requested_at=now,
    )


def pending_replacement_view(order: Order, command: ReplaceOrder) -> Order:
    """The replacement as it stands before the orders service has decided the replace."""
    return order.model_copy(
        update={
            "id": command.new_order_id,
            "client_order_id": command.client_order_id or order.client_order_id,
            "qty": command.qty or order.qty,
            "limit_price": command.limit_price or order.limit_price,
            "stop_price": command.stop_price or order.stop_price,
            "time_in_force": command.time_in_force or order.time_in_force,
            "status": OrderStatus.PENDING_NEW,
            "filled_qty": Decimal(0),
            "filled_avg_price": None,
            "submitted_at": command.requested_at,
            "created_at": command.requested_at,
            "updated_at": command.requested_at,
            "accepted_at": None,
            "filled_at": None,
            "canceled_at": None,
            "replaces": order.id,
            "replaced_by": None,
        }
    )
