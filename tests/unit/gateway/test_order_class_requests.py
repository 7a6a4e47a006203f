"""Bracket, oco and oto requests at the gateway: the rules it refuses with a field (422 at the
route), the command it publishes, and the pending view with the legs' ids derived as the orders
service derives them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from tradewind.common.contracts import LegRole, leg_order_id
from tradewind.common.contracts.types import OrderClass, OrderStatus, OrderType, Side
from tradewind.gateway.domain.orders import order_class_refusal, pending_view, place_command
from tradewind.gateway.domain.schemas import OrderRequest

NOW = datetime(2026, 1, 2, 14, 30, tzinfo=UTC)
BRACKET: dict[str, Any] = {
    "symbol": "aapl",
    "side": "buy",
    "type": "limit",
    "qty": "10",
    "limit_price": "190",
    "time_in_force": "gtc",
    "order_class": "bracket",
    "take_profit": {"limit_price": "200"},
    "stop_loss": {"stop_price": "180", "limit_price": "179.5"},
}


def refusal(**changes: Any) -> tuple[str, str] | None:
    request = OrderRequest.model_validate({**BRACKET, **changes})
    return order_class_refusal(request)


def test_a_valid_bracket_is_published_with_its_legs() -> None:
    request = OrderRequest.model_validate(BRACKET)
    command = place_command(request, account_id="acct-1", now=NOW, order_id=uuid.uuid4())
    assert order_class_refusal(request) is None
    assert command.order_class is OrderClass.BRACKET
    assert command.take_profit is not None
    assert command.stop_loss is not None
    assert str(command.stop_loss.limit_price) == "179.5"


def test_the_pending_view_lists_the_legs_under_the_ids_orders_will_give_them() -> None:
    request = OrderRequest.model_validate(BRACKET)
    command = place_command(request, account_id="acct-1", now=NOW, order_id=uuid.uuid4())
    view = pending_view(command)
    assert view.legs is not None
    assert [leg.id for leg in view.legs] == [
        leg_order_id(command.order_id, LegRole.TAKE_PROFIT),
        leg_order_id(command.order_id, LegRole.STOP_LOSS),
    ]
    assert [(leg.type, leg.side) for leg in view.legs] == [
        (OrderType.LIMIT, Side.SELL),
        (OrderType.STOP_LIMIT, Side.SELL),
    ]
    assert {leg.status for leg in view.legs} == {OrderStatus.PENDING_NEW}
    assert {leg.parent_id for leg in view.legs} == {command.order_id}


def test_a_simple_order_has_no_legs() -> None:
    simple = {k: v for k, v in BRACKET.items() if k not in {"order_class", "stop_loss"}}
    request = OrderRequest.model_validate({**simple, "take_profit": None})
    view = pending_view(place_command(request, account_id="acct-1", now=NOW))
    assert (view.order_class, view.legs) == (OrderClass.SIMPLE, None)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"take_profit": {"limit_price": "185"}}, "take_profit.limit_price"),
        ({"stop_loss": {"stop_price": "195"}}, "stop_loss.stop_price"),
        ({"stop_loss": {"stop_price": "180", "limit_price": "181"}}, "stop_loss.limit_price"),
        ({"stop_loss": None}, "stop_loss"),
        ({"time_in_force": "ioc"}, "time_in_force"),
        ({"type": "stop", "limit_price": None, "stop_price": "191"}, "type"),
        ({"order_class": "simple"}, "take_profit"),
        ({"order_class": "oto"}, "take_profit"),
        (
            {
                "type": "market",
                "limit_price": None,
                "qty": None,
                "notional": "1000",
                "time_in_force": "day",
            },
            "notional",
        ),
    ],
)
def test_each_broken_rule_is_refused_naming_its_field(changes: dict[str, Any], field: str) -> None:
    found = refusal(**changes)
    assert found is not None
    assert found[0] == field, found


def test_a_sell_bracket_mirrors_the_prices() -> None:
    assert (
        refusal(
            side="sell",
            take_profit={"limit_price": "180"},
            stop_loss={"stop_price": "200", "limit_price": "201"},
        )
        is None
    )


def test_a_trailing_stop_loss_is_a_trailing_stop_leg_in_the_pending_view() -> None:
    request = OrderRequest.model_validate({**BRACKET, "stop_loss": {"trail_percent": "1.5"}})
    command = place_command(request, account_id="acct-1", now=NOW, order_id=uuid.uuid4())
    assert order_class_refusal(request) is None
    view = pending_view(command)
    assert view.legs is not None
    stop_leg = view.legs[1]
    assert (stop_leg.type, stop_leg.trail_percent, stop_leg.stop_price) == (
        OrderType.TRAILING_STOP,
        Decimal("1.5"),
        None,
    )


def test_a_stop_loss_with_a_stop_and_a_trail_is_refused() -> None:
    with pytest.raises(ValueError, match="exactly one of stop_price, trail_price or trail_percent"):
        OrderRequest.model_validate(
            {**BRACKET, "stop_loss": {"stop_price": "180", "trail_price": "2"}}
        )
