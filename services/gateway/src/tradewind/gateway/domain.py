"""What the gateway decides on its own: the order id, the command, the pending view. No I/O."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from tradewind.common.contracts import PlaceOrder
from tradewind.common.contracts.types import OrderStatus
from tradewind.gateway.schemas import Order, OrderRequest


def place_command(request: OrderRequest, *, account_id: str, now: datetime) -> PlaceOrder:
    return PlaceOrder(
        order_id=uuid.uuid4(),
        account_id=account_id,
        symbol=request.symbol,
        side=request.side,
        type=request.type,
        qty=request.qty,
        limit_price=request.limit_price,
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
        time_in_force=command.time_in_force,
        status=OrderStatus.PENDING_NEW,
        filled_qty=Decimal(0),
        submitted_at=command.submitted_at,
        created_at=command.submitted_at,
        updated_at=command.submitted_at,
    )
