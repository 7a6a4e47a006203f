"""Trailing stops and notional orders at the edge: what the gateway accepts and what it refuses
(a 422 naming the field), for places and replaces."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from tradewind.common.contracts.types import OrderStatus, OrderType, Side, TimeInForce
from tradewind.gateway.domain.orders import (
    check_replace,
    pending_replacement_view,
    pending_view,
    place_command,
    replace_command,
)
from tradewind.gateway.domain.schemas import Order, OrderRequest, ReplaceRequest

NOW = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)
TRAILING = {"symbol": "AAPL", "side": "sell", "type": "trailing_stop", "qty": "10"}
NOTIONAL = {"symbol": "AAPL", "side": "buy", "type": "market", "notional": "500"}


def errors(body: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        OrderRequest.model_validate(body)
    return {".".join(str(p) for p in e["loc"]): e["msg"] for e in caught.value.errors()}


def test_a_trailing_stop_by_price_becomes_a_command_with_its_trail() -> None:
    request = OrderRequest.model_validate(
        {**TRAILING, "trail_price": "1.50", "time_in_force": "gtc"}
    )
    command = place_command(request, account_id="acct", now=NOW)
    assert (command.type, command.trail_price, command.trail_percent) == (
        OrderType.TRAILING_STOP,
        Decimal("1.50"),
        None,
    )
    assert command.time_in_force is TimeInForce.GTC
    view = pending_view(command)
    assert (view.trail_price, view.hwm, view.stop_price) == (Decimal("1.50"), None, None)


def test_a_notional_market_order_needs_no_qty_and_its_pending_view_has_none() -> None:
    command = place_command(OrderRequest.model_validate(NOTIONAL), account_id="acct", now=NOW)
    assert (command.qty, command.notional) == (None, Decimal(500))
    assert pending_view(command).qty is None


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        (TRAILING, "trail_percent", "trailing_stop orders need a trail_price or a trail_percent"),
        (
            {**TRAILING, "trail_price": "1", "trail_percent": "2"},
            "trail_percent",
            "set one of trail_price or trail_percent, not both",
        ),
        (
            {**TRAILING, "trail_price": "1", "time_in_force": "ioc"},
            "time_in_force",
            "trailing_stop orders are day or gtc",
        ),
        ({**TRAILING, "trail_percent": "100"}, "trail_percent", "must be below 100"),
        (
            {**TRAILING, "trail_price": "1", "stop_price": "99"},
            "stop_price",
            "trailing_stop orders have no stop_price",
        ),
        (
            {
                "symbol": "AAPL",
                "side": "buy",
                "type": "limit",
                "qty": "1",
                "limit_price": "1",
                "trail_price": "1",
            },
            "trail_price",
            "limit orders have no trail_price",
        ),
        ({**NOTIONAL, "qty": "2"}, "notional", "set one of qty or notional, not both"),
        ({**NOTIONAL, "time_in_force": "gtc"}, "notional", "notional orders are day orders"),
        (
            {**NOTIONAL, "type": "limit", "limit_price": "10"},
            "notional",
            "notional orders are market orders",
        ),
        (
            {"symbol": "AAPL", "side": "buy", "type": "market"},
            "notional",
            "one of qty or notional is required",
        ),
    ],
)
def test_an_inconsistent_order_is_refused_naming_the_field_and_the_rule(
    body: dict[str, Any], field: str, message: str
) -> None:
    found = errors(body)
    assert list(found) == [field]
    assert message in found[field]


def test_an_invalid_qty_is_reported_alone_not_as_a_missing_one() -> None:
    assert list(errors({**NOTIONAL, "notional": None, "qty": "-1"})) == ["qty"]


# --- replace ---


def trailing_order(**overrides: Any) -> Order:
    fields: dict[str, Any] = {
        "id": uuid.uuid4(),
        "client_order_id": None,
        "symbol": "AAPL",
        "side": Side.SELL,
        "type": OrderType.TRAILING_STOP,
        "qty": Decimal(10),
        "limit_price": None,
        "stop_price": Decimal(99),
        "trail_price": Decimal(1),
        "hwm": Decimal(100),
        "time_in_force": TimeInForce.GTC,
        "status": OrderStatus.NEW,
        "filled_qty": Decimal(0),
        "submitted_at": NOW,
        "created_at": NOW,
        "updated_at": NOW,
    }
    fields.update(overrides)
    return Order(**fields)


def test_a_new_trail_percent_replaces_the_trail_price() -> None:
    original = trailing_order()
    request = ReplaceRequest(trail_percent=Decimal(2))
    assert check_replace(original, request) is None
    command = replace_command(original, request, account_id="acct", now=NOW)
    assert command.trail_percent == Decimal(2)
    view = pending_replacement_view(original, command)
    assert (view.trail_price, view.trail_percent) == (None, Decimal(2))


@pytest.mark.parametrize(
    ("order", "request_fields", "field", "detail"),
    [
        (
            trailing_order(type=OrderType.MARKET, trail_price=None, stop_price=None, hwm=None),
            {"trail_price": Decimal(1)},
            "trail_price",
            "market orders have no trail_price.",
        ),
        (
            trailing_order(),
            {"trail_price": Decimal(1), "trail_percent": Decimal(2)},
            "trail_percent",
            "Set one of trail_price or trail_percent, not both.",
        ),
        (
            trailing_order(
                type=OrderType.MARKET,
                qty=None,
                notional=Decimal(500),
                trail_price=None,
                stop_price=None,
                hwm=None,
                time_in_force=TimeInForce.DAY,
            ),
            {"client_order_id": "x"},
            None,
            "Notional orders cannot be replaced; cancel it and place another.",
        ),
    ],
)
def test_a_replace_that_does_not_fit_the_order_is_refused(
    order: Order, request_fields: dict[str, Any], field: str | None, detail: str
) -> None:
    refusal = check_replace(order, ReplaceRequest(**request_fields))
    assert refusal is not None
    assert (refusal.status, refusal.field, refusal.detail) == (422, field, detail)
