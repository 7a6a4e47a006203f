"""What the gateway refuses before a replace reaches the orders service."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from tradewind.common.contracts.types import OrderStatus, OrderType
from tradewind.gateway.domain.orders import check_replace, pending_replacement_view, replace_command
from tradewind.gateway.domain.schemas import Order, ReplaceRequest

NOW = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)


def order(status: OrderStatus = OrderStatus.NEW, order_type: OrderType = OrderType.LIMIT) -> Order:
    return Order(
        id=uuid.uuid4(),
        client_order_id="c1",
        symbol="AAPL",
        side="buy",  # type: ignore[arg-type]
        type=order_type,
        qty=Decimal(10),
        limit_price=Decimal(100) if order_type.needs_limit_price else None,
        stop_price=Decimal(90) if order_type.needs_stop_price else None,
        time_in_force="day",  # type: ignore[arg-type]
        status=status,
        filled_qty=Decimal(0),
        submitted_at=NOW,
        created_at=NOW,
        updated_at=NOW,
    )


def test_a_valid_replace_passes_and_builds_a_linked_pending_replacement() -> None:
    original = order()
    request = ReplaceRequest(limit_price=Decimal(101))
    assert check_replace(original, request) is None
    command = replace_command(original, request, account_id="a", now=NOW)
    view = pending_replacement_view(original, command)
    assert view.id == command.new_order_id != original.id
    assert view.replaces == original.id
    assert view.status == OrderStatus.PENDING_NEW
    assert view.limit_price == Decimal(101)
    assert view.qty == Decimal(10)


@pytest.mark.parametrize(
    ("status", "order_type", "request_fields", "expected_status", "field"),
    [
        (OrderStatus.PENDING_NEW, OrderType.LIMIT, {"qty": "5"}, 409, None),
        (OrderStatus.FILLED, OrderType.LIMIT, {"qty": "5"}, 422, None),
        (OrderStatus.NEW, OrderType.MARKET, {"limit_price": "5"}, 422, "limit_price"),
        (OrderStatus.NEW, OrderType.LIMIT, {"stop_price": "5"}, 422, "stop_price"),
    ],
)
def test_refusals(
    status: OrderStatus,
    order_type: OrderType,
    request_fields: dict[str, str],
    expected_status: int,
    field: str | None,
) -> None:
    refusal = check_replace(
        order(status, order_type), ReplaceRequest.model_validate(request_fields)
    )
    assert refusal is not None
    assert refusal.status == expected_status
    assert refusal.field == field


def test_a_replace_that_names_no_field_is_refused_before_the_order_is_looked_up() -> None:
    with pytest.raises(ValidationError, match="at least one field"):
        ReplaceRequest.model_validate({})
    # Null keeps the order's value, as leaving the field out does: a request of nulls is valid.
    assert ReplaceRequest.model_validate({"time_in_force": None}).time_in_force is None
