"""Notional orders: a dollar amount, sized in whole lots at the price it trades at."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from tradewind.common.contracts import (
    OrderCanceled,
    OrderFilled,
    PlaceOrder,
    RejectReason,
)
from tradewind.common.contracts.types import OrderStatus, OrderType, Side, TimeInForce
from tradewind.orders.domain import (
    MarketView,
    Order,
    RiskRules,
    SymbolBook,
    execute_on_arrival,
    match_quote,
    notional_orders,
    place,
    replace,
    settle,
)
from unit.orders.builders import SYMBOL, T0, accepted_order_of, place_command, quote, replace_of

NOW = T0 + timedelta(milliseconds=40)
RULES = RiskRules(reference_prices={SYMBOL: Decimal("100")}, max_notional=Decimal("10000"))


def market(lot: str | None = "0.001", bid: str | None = None, ask: str | None = None) -> MarketView:
    return MarketView(
        listed=True,
        bid=None if bid is None else Decimal(bid),
        ask=None if ask is None else Decimal(ask),
        tick_size=Decimal("0.01"),
        lot_size=None if lot is None else Decimal(lot),
    )


NOTIONAL_BUY: dict[str, Any] = {
    "side": Side.BUY,
    "type": OrderType.MARKET,
    "notional": Decimal("500"),
}


def notional_command(**overrides: Any) -> PlaceOrder:
    return place_command(NOTIONAL_BUY, **overrides)


def accepted(view: MarketView | None = None, **overrides: Any) -> Order:
    return accepted_order_of(notional_command(**overrides), RULES, view or market(), now=NOW)


@pytest.mark.parametrize(
    ("notional", "price", "lot", "qty"),
    [
        ("500", "190.37", "0.001", "2.626"),  # 2.62646...: rounded down, never more than asked
        ("500", "190.37", "1", "2"),
        ("1000", "100", "1", "10"),
        ("10", "3", None, "3.333333333"),  # no lot size: as many places as a contract carries
        ("99", "100", "1", "0"),
    ],
)
def test_a_notional_amount_buys_whole_lots_rounded_down(
    notional: str, price: str, lot: str | None, qty: str
) -> None:
    sized = notional_orders.sized_qty(
        Decimal(notional), Decimal(price), None if lot is None else Decimal(lot)
    )
    assert sized == Decimal(qty)
    assert sized * Decimal(price) <= Decimal(notional)


def test_a_notional_order_is_accepted_without_a_qty() -> None:
    order = accepted()
    assert (order.qty, order.notional) == (None, Decimal(500))


def test_a_notional_that_buys_less_than_one_lot_is_rejected_with_the_reason() -> None:
    placement = place(
        notional_command(notional=Decimal(50)),
        RULES,
        market(lot="1", ask="190"),
        client_order_id_in_use=False,
        now=NOW,
    )
    assert placement.order.reject_reason == RejectReason.INVALID_ORDER
    assert placement.event.model_dump()["message"] == (
        "notional 50 buys less than one lot (1) at 190"
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"qty": Decimal(1)}, "set one of qty or notional, not both"),
        ({"type": OrderType.LIMIT, "limit_price": Decimal(1)}, "notional orders are market orders"),
        ({"time_in_force": TimeInForce.GTC}, "notional orders are day orders"),
        ({"notional": None}, "one of qty or notional is required"),
    ],
)
def test_an_inconsistent_notional_order_is_rejected_naming_the_rule(
    overrides: dict[str, Any], message: str
) -> None:
    placement = place(
        notional_command(**overrides), RULES, market(), client_order_id_in_use=False, now=NOW
    )
    assert placement.order.reject_reason == RejectReason.INVALID_ORDER
    assert placement.event.model_dump()["message"] == message


def test_the_notional_is_what_the_limit_check_values() -> None:
    placement = place(
        notional_command(notional=Decimal(10001)),
        RULES,
        market(),
        client_order_id_in_use=False,
        now=NOW,
    )
    assert placement.order.reject_reason == RejectReason.NOTIONAL_LIMIT_EXCEEDED


def test_a_notional_buy_fills_a_fractional_qty_at_the_next_quote() -> None:
    order = accepted()
    match = match_quote(
        SymbolBook(SYMBOL),
        quote(1, bid="190.30", ask="190.37"),
        [order],
        NOW,
        lot_size=Decimal("0.001"),
    )

    (change,) = match.changes
    assert change.order.status is OrderStatus.FILLED
    assert (change.order.qty, change.order.filled_qty) == (Decimal("2.626"), Decimal("2.626"))
    assert change.execution is not None
    assert change.execution.price == Decimal("190.37")
    (event,) = settle(match, {}, NOW).events
    assert isinstance(event.data, OrderFilled)
    assert event.data.order.notional == Decimal(500)


def test_a_notional_sell_is_sized_at_the_bid_on_arrival() -> None:
    order = accepted(side=Side.SELL, notional=Decimal(1000))
    book = SymbolBook(
        SYMBOL,
        last_sequence=3,
        bid_price=Decimal("80"),
        bid_size=Decimal(100),
        ask_price=Decimal("80.1"),
        ask_size=Decimal(100),
        quoted_at=NOW,
        bid_available=Decimal(100),
        ask_available=Decimal(100),
    )
    match = execute_on_arrival(
        order, book, NOW, max_quote_age=timedelta(seconds=2), lot_size=Decimal(1)
    )

    assert match is not None
    (change,) = match.changes
    assert change.order.qty == Decimal(12)  # 1000 / 80 = 12.5, whole lots
    assert change.order.status is OrderStatus.FILLED


def test_a_small_quote_leaves_the_sized_rest_working() -> None:
    order = accepted(notional=Decimal(1000))
    partly = (
        match_quote(
            SymbolBook(SYMBOL), quote(1, ask="100", ask_size="4"), [order], NOW, lot_size=Decimal(1)
        )
        .changes[0]
        .order
    )
    assert (partly.qty, partly.filled_qty, partly.status) == (
        Decimal(10),
        Decimal(4),
        OrderStatus.PARTIALLY_FILLED,
    )


def test_a_price_that_leaves_less_than_one_lot_cancels_the_order() -> None:
    order = accepted(notional=Decimal(150), view=market(lot="1", ask="100"))
    match = match_quote(
        SymbolBook(SYMBOL), quote(1, bid="199", ask="200"), [order], NOW, lot_size=Decimal(1)
    )

    (change,) = match.changes
    assert change.order.status is OrderStatus.CANCELED
    assert change.order.qty is None
    (event,) = settle(match, {}, NOW).events
    assert isinstance(event.data, OrderCanceled)


def test_a_notional_order_cannot_be_replaced() -> None:
    order = accepted()
    command = replace_of(order, qty=Decimal(3), requested_at=NOW)
    outcome = replace(order, command, RULES, market(), client_order_id_in_use=False, now=NOW)
    assert outcome.replacement is None
    assert "notional orders cannot be replaced" in outcome.event.model_dump()["reason"]
