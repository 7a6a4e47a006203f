"""What the gateway decides on its own: the order id, the command, the pending view. No I/O."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import TypeAdapter
from pydantic_core import to_json

from tradewind.common.contracts import (
    CancelOrder,
    CancelRequested,
    Contract,
    LegRole,
    PlaceOrder,
    ReplaceOrder,
    ReplaceRequested,
    leg_order_id,
)
from tradewind.common.contracts.order_classes import exit_side, place_violation
from tradewind.common.contracts.types import OrderClass, OrderStatus, OrderType, Side, TimeInForce
from tradewind.common.random_ids import random_uuid_text
from tradewind.gateway.domain.schemas import Order, OrderRequest, ReplaceRequest

# Fixed forever: changing it would give a retry of an old request another order id.
_IDEMPOTENT_ORDER_IDS = uuid.UUID("5b0c6d2e-8f0a-4c57-9a43-2a7d3e1f9c60")


def new_order_id(account_id: str, idempotency: tuple[str, str] | None) -> uuid.UUID:
    """The id of the order a request creates: random, or, for a request with an Idempotency-Key,
    derived from the account, the key and the request's fingerprint.

    Derived, a retry after an unknown outcome (the broker took the command but its confirm was
    lost, so the client saw a 503) names the same order, and the orders service, which places an
    order id once, ignores the second command: one order, however often the client retries.
    ``idempotency`` is (key, fingerprint); the fingerprint keeps another request sent under the
    same key after its record expired from naming an order it did not place.
    """
    if idempotency is None:
        return uuid.uuid4()
    key, fingerprint = idempotency
    return uuid.uuid5(_IDEMPOTENT_ORDER_IDS, json.dumps([account_id, key, fingerprint]))


def new_order_id_text(account_id: str, idempotency: tuple[str, str] | None) -> str:
    """``str(new_order_id(...))``, a random id written without a ``uuid.UUID`` in between
    (``random_ids``): the order route needs only the id's text, once per order."""
    if idempotency is None:
        return random_uuid_text()
    return str(new_order_id(account_id, idempotency))


def closing_order_id(
    account_id: str, symbol: str, idempotency: tuple[str, str] | None
) -> uuid.UUID:
    """The id of the order that closes ``symbol``'s position in a close-all request: derived,
    as ``new_order_id``, when the request has an Idempotency-Key, and one per symbol."""
    if idempotency is None:
        return uuid.uuid4()
    key, fingerprint = idempotency
    return uuid.uuid5(_IDEMPOTENT_ORDER_IDS, json.dumps([account_id, key, fingerprint, symbol]))


def closing_command(
    symbol: str, position_qty: Decimal, *, account_id: str, now: datetime, order_id: uuid.UUID
) -> PlaceOrder:
    """A market day order for the whole position, on the side that brings it to zero."""
    if position_qty == 0:
        raise ValueError(f"no position in {symbol} to close")
    return PlaceOrder(
        order_id=order_id,
        account_id=account_id,
        symbol=symbol,
        side=Side.SELL if position_qty > 0 else Side.BUY,
        type=OrderType.MARKET,
        qty=abs(position_qty),
        time_in_force=TimeInForce.DAY,
        submitted_at=now,
    )


def place_command(
    request: OrderRequest, *, account_id: str, now: datetime, order_id: uuid.UUID | None = None
) -> PlaceOrder:
    """The command as a model: what ``place_command_json``, the order route's way, must equal."""
    return PlaceOrder(
        order_id=order_id or uuid.uuid4(),
        account_id=account_id,
        symbol=request.symbol,
        side=request.side,
        type=request.type,
        qty=request.qty,
        notional=request.notional,
        limit_price=request.limit_price,
        stop_price=request.stop_price,
        trail_price=request.trail_price,
        trail_percent=request.trail_percent,
        time_in_force=request.time_in_force,
        client_order_id=request.client_order_id,
        submitted_at=now,
        order_class=request.order_class,
        take_profit=request.take_profit,
        stop_loss=request.stop_loss,
    )


def order_class_refusal(order: OrderRequest) -> tuple[str, str] | None:
    """The (field, message) of the first order-class rule the order breaks (a 422), or None:
    the rules the orders service applies to its command (``place_violation``)."""
    return place_violation(order)


def place_command_json(
    request: OrderRequest, *, account_id: str, now: datetime, order_id: uuid.UUID | str
) -> dict[str, Any]:
    """``place_command(...).model_dump(mode="json")`` without building the ``PlaceOrder``: the
    request's fields are the command's, of the same types, so the command model would only
    validate them again (about 4% of the order route's CPU, docs/performance.md). The account id
    is the principal's, checked when its key was issued. ``PlaceOrder.model_validate`` of the
    result, as the orders service decodes it, is ``place_command``'s command
    (tests/unit/gateway/test_order_json_forms.py)."""
    return {
        "order_id": str(order_id),
        "account_id": account_id,
        **request.model_dump(mode="json"),
        "submitted_at": _TIME.dump_python(now, mode="json"),
    }


def pending_view(command: PlaceOrder) -> Order:
    """The order as it stands before the orders service has decided on it, with its legs (their
    ids derive from the order's)."""
    view = _pending_order(command)
    legs = _pending_legs(command, view)
    return view if not legs else view.model_copy(update={"legs": legs})


# A simple order's pending view from its command's JSON form: the fields both have, copied; the
# others as an order stands before the orders service has decided on it.
_COPIED_FIELDS = tuple(name for name in Order.model_fields if name in PlaceOrder.model_fields)
_UNDECIDED: dict[str, Any] = {name: None for name in Order.model_fields} | {
    "status": OrderStatus.PENDING_NEW.value,
    "filled_qty": "0",
}
_TIME = TypeAdapter(datetime)


def pending_view_json(data: Mapping[str, Any]) -> bytes:
    """``pending_view(command).model_dump_json()`` from the command's JSON form ``data``, which
    the route has already made for the command's envelope: building the view model validated
    every decimal and time of the order again and serialized them again (docs/performance.md).
    An order with legs still takes the model's way."""
    if data["take_profit"] is not None or data["stop_loss"] is not None:
        return pending_view(PlaceOrder.model_validate(data)).model_dump_json().encode()
    view = dict(_UNDECIDED)
    for name in _COPIED_FIELDS:
        view[name] = data[name]
    view["id"] = data["order_id"]
    view["created_at"] = view["updated_at"] = data["submitted_at"]
    return to_json(view)


def _pending_legs(command: PlaceOrder, parent: Order) -> list[Order]:
    side = exit_side(command.order_class, command.side)
    legs: list[Order] = []
    if command.take_profit is not None and command.order_class is not OrderClass.OCO:
        legs.append(
            parent.model_copy(
                update={
                    "id": leg_order_id(command.order_id, LegRole.TAKE_PROFIT),
                    "client_order_id": None,
                    "side": side,
                    "type": OrderType.LIMIT,
                    "limit_price": command.take_profit.limit_price,
                    "stop_price": None,
                    "parent_id": command.order_id,
                }
            )
        )
    if command.stop_loss is not None:
        stop_loss = command.stop_loss
        if stop_loss.trailing:
            stop_type = OrderType.TRAILING_STOP
        elif stop_loss.limit_price is None:
            stop_type = OrderType.STOP
        else:
            stop_type = OrderType.STOP_LIMIT
        legs.append(
            parent.model_copy(
                update={
                    "id": leg_order_id(command.order_id, LegRole.STOP_LOSS),
                    "client_order_id": None,
                    "side": side,
                    "type": stop_type,
                    "limit_price": stop_loss.limit_price,
                    "stop_price": stop_loss.stop_price,
                    "trail_price": stop_loss.trail_price,
                    "trail_percent": stop_loss.trail_percent,
                    "parent_id": command.order_id,
                }
            )
        )
    return legs


def _pending_order(command: PlaceOrder) -> Order:
    return Order(
        id=command.order_id,
        client_order_id=command.client_order_id,
        symbol=command.symbol,
        side=command.side,
        type=command.type,
        qty=command.qty,
        notional=command.notional,
        limit_price=command.limit_price,
        stop_price=command.stop_price,
        trail_price=command.trail_price,
        trail_percent=command.trail_percent,
        time_in_force=command.time_in_force,
        status=OrderStatus.PENDING_NEW,
        filled_qty=Decimal(0),
        submitted_at=command.submitted_at,
        created_at=command.submitted_at,
        updated_at=command.submitted_at,
        order_class=command.order_class,
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
    if order.order_class is not OrderClass.SIMPLE:
        return ReplaceRefusal(
            422,
            "Order cannot be replaced",
            f"{order.order_class.value} orders and their legs cannot be replaced yet; cancel "
            "and place again.",
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
    for name in ("trail_price", "trail_percent"):
        if getattr(request, name) is not None and not order.type.is_trailing:
            return ReplaceRefusal(
                422,
                "Your request is not valid.",
                f"{order.type.value} orders have no {name}.",
                field=name,
            )
    if request.trail_price is not None and request.trail_percent is not None:
        return ReplaceRefusal(
            422,
            "Your request is not valid.",
            "Set one of trail_price or trail_percent, not both.",
            field="trail_percent",
        )
    if order.notional is not None:
        return ReplaceRefusal(
            422,
            "Order cannot be replaced",
            "Notional orders cannot be replaced; cancel it and place another.",
        )
    return None


def replace_command(
    order: Order,
    request: ReplaceRequest,
    *,
    account_id: str,
    now: datetime,
    new_order_id: uuid.UUID | None = None,
) -> ReplaceOrder:
    return ReplaceOrder(
        order_id=order.id,
        new_order_id=new_order_id or uuid.uuid4(),
        account_id=account_id,
        qty=request.qty,
        limit_price=request.limit_price,
        stop_price=request.stop_price,
        trail_price=request.trail_price,
        trail_percent=request.trail_percent,
        time_in_force=request.time_in_force,
        client_order_id=request.client_order_id,
        requested_at=now,
    )


def pending_replacement_view(order: Order, command: ReplaceOrder) -> Order:
    """The replacement as it stands before the orders service has decided the replace."""
    retrail = command.trail_price is not None or command.trail_percent is not None
    trail = (
        {"trail_price": command.trail_price, "trail_percent": command.trail_percent}
        if retrail
        else {}
    )
    return order.model_copy(
        update={
            **trail,
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
            "legs": None,
        }
    )


def pending_notice(command: Contract, order: Order) -> CancelRequested | ReplaceRequested | None:
    """The advisory event announcing a cancel or replace of ``order`` (as last read) about to be
    sent (the stream's pending_cancel and pending_replace); None for other commands."""
    if isinstance(command, CancelOrder):
        return CancelRequested(
            order_id=command.order_id,
            account_id=command.account_id,
            requested_at=command.requested_at,
            order=order,
        )
    if isinstance(command, ReplaceOrder):
        return ReplaceRequested(
            order_id=command.order_id,
            new_order_id=command.new_order_id,
            account_id=command.account_id,
            requested_at=command.requested_at,
            order=order,
        )
    return None
