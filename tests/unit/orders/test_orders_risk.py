"""Placement rules that depend on the market: listing, consistent prices, valuation at the quote."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from tradewind.common.contracts import OrderAccepted, OrderRejected, PlaceOrder, RejectReason
from tradewind.common.contracts.types import OrderStatus, OrderType, Side
from tradewind.orders.domain import (
    MarketView,
    RiskRules,
    place,
)
from unit.orders.builders import T0, place_command

NOW = T0 + timedelta(milliseconds=40)
RULES = RiskRules(reference_prices={"ACME": Decimal("100")}, max_notional=Decimal("10000"))
LISTED = MarketView(listed=True)


def command(**overrides: Any) -> PlaceOrder:
    return place_command(**overrides)


def reason_for(
    market: MarketView = LISTED, rules: RiskRules = RULES, **overrides: Any
) -> str | None:
    order = place(command(**overrides), rules, market, client_order_id_in_use=False, now=NOW).order
    return order.reject_reason


# --- the order's own consistency ---


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"type": OrderType.LIMIT}, "limit orders need a limit_price"),
        ({"type": OrderType.STOP_LIMIT, "stop_price": "9"}, "stop_limit orders need a limit_price"),
        ({"type": OrderType.MARKET, "limit_price": "9"}, "market orders have no limit_price"),
        ({"type": OrderType.STOP, "limit_price": "9", "stop_price": "9"}, "stop orders have no"),
        ({"type": OrderType.STOP}, "stop orders need a stop_price"),
        ({"type": OrderType.STOP_LIMIT, "limit_price": "9"}, "stop_limit orders need a stop_price"),
        ({"type": OrderType.LIMIT, "limit_price": "9", "stop_price": "9"}, "have no stop_price"),
        ({"type": OrderType.MARKET, "stop_price": "9"}, "market orders have no stop_price"),
    ],
)
def test_an_order_whose_prices_do_not_fit_its_type_is_rejected(
    overrides: dict[str, Any], message: str
) -> None:
    placement = place(command(**overrides), RULES, LISTED, client_order_id_in_use=False, now=NOW)

    assert placement.order.status is OrderStatus.REJECTED
    assert placement.order.reject_reason == "invalid_order"
    assert placement.event.TYPE == OrderRejected.TYPE
    wire = placement.event.model_dump(mode="json")
    assert wire["reason"] == "invalid_order"
    assert message in wire["message"]
    assert wire["order"]["status"] == "rejected"


@pytest.mark.parametrize(
    ("order_type", "prices"),
    [
        (OrderType.MARKET, {}),
        (OrderType.LIMIT, {"limit_price": "9"}),
        (OrderType.STOP, {"stop_price": "9"}),
        (OrderType.STOP_LIMIT, {"limit_price": "9", "stop_price": "9"}),
    ],
)
def test_each_type_with_its_own_prices_is_accepted(
    order_type: OrderType, prices: dict[str, str]
) -> None:
    placement = place(
        command(type=order_type, **prices), RULES, LISTED, client_order_id_in_use=False, now=NOW
    )

    assert isinstance(placement.event, OrderAccepted)
    assert placement.order.stop_price == (
        Decimal(prices["stop_price"]) if "stop_price" in prices else None
    )


def test_an_unlisted_symbol_is_rejected_before_anything_else() -> None:
    assert reason_for(MarketView(listed=False), type=OrderType.LIMIT) == "unknown_symbol"


# --- valuation for the notional check ---


def test_a_market_buy_is_valued_at_the_last_ask() -> None:
    # 10 x 1001 > 10_000 although the reference price (100) would pass
    assert reason_for(MarketView(True, bid=Decimal("999"), ask=Decimal("1001"))) == (
        "notional_limit_exceeded"
    )
    assert reason_for(MarketView(True, bid=Decimal("1001"), ask=Decimal("999"))) is None


def test_a_market_sell_is_valued_at_the_last_bid() -> None:
    assert reason_for(MarketView(True, bid=Decimal("1001"), ask=Decimal("999")), side=Side.SELL)
    assert (
        reason_for(MarketView(True, bid=Decimal("999"), ask=Decimal("1001")), side=Side.SELL)
        is None
    )


def test_without_a_quote_the_reference_price_values_a_market_order() -> None:
    assert reason_for(qty=Decimal("100")) is None  # 100 x 100
    assert reason_for(qty=Decimal("100.01")) == "notional_limit_exceeded"


def test_a_limit_order_is_valued_at_its_limit_whatever_the_quote() -> None:
    market = MarketView(True, bid=Decimal("5000"), ask=Decimal("5000"))

    assert reason_for(market, type=OrderType.LIMIT, limit_price=Decimal("1000")) is None
    assert reason_for(market, type=OrderType.LIMIT, limit_price=Decimal("1000.1"))


def test_a_stop_limit_is_valued_at_its_limit() -> None:
    order: dict[str, Any] = {
        "type": OrderType.STOP_LIMIT,
        "stop_price": Decimal("5"),
        "limit_price": Decimal("1000"),
    }

    assert reason_for(**order) is None
    assert reason_for(**{**order, "limit_price": Decimal("1000.5")}) == "notional_limit_exceeded"


def test_a_buy_stop_is_valued_at_no_less_than_its_stop() -> None:
    below_stop = MarketView(True, bid=Decimal("90"), ask=Decimal("95"))
    stop: dict[str, Any] = {"type": OrderType.STOP, "stop_price": Decimal("1000.5")}

    assert reason_for(below_stop, **stop) == "notional_limit_exceeded"
    assert reason_for(below_stop, **{**stop, "stop_price": Decimal("1000")}) is None
    assert reason_for(below_stop, side=Side.SELL, **stop) is None, "a sell stop fills below it"


def test_with_no_quote_and_no_reference_price_a_market_order_cannot_be_valued() -> None:
    rules = RiskRules(reference_prices={}, max_notional=Decimal("10000"))

    placement = place(command(), rules, LISTED, client_order_id_in_use=False, now=NOW)

    assert placement.order.reject_reason == "price_unavailable"
    assert placement.event.TYPE == OrderRejected.TYPE
    assert placement.event.model_dump(mode="json")["reason"] == "price_unavailable"
    assert reason_for(rules=rules, type=OrderType.LIMIT, limit_price=Decimal("1")) is None


@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
def test_a_stop_with_no_other_price_is_valued_at_its_stop(side: Side) -> None:
    rules = RiskRules(reference_prices={}, max_notional=Decimal("10000"))
    stop: dict[str, Any] = {"type": OrderType.STOP, "side": side, "rules": rules}

    assert reason_for(stop_price=Decimal("1000"), **stop) is None
    assert reason_for(stop_price=Decimal("1000.1"), **stop) == "notional_limit_exceeded"


def test_a_quote_makes_a_symbol_without_reference_price_tradable_at_market() -> None:
    rules = RiskRules(reference_prices={}, max_notional=Decimal("10000"))

    assert reason_for(MarketView(True, bid=Decimal("9"), ask=Decimal("10")), rules=rules) is None


def test_known_reasons_use_the_shared_contract() -> None:
    placement = place(
        command(qty=Decimal("1000")), RULES, LISTED, client_order_id_in_use=False, now=NOW
    )

    assert isinstance(placement.event, OrderRejected)
    assert placement.event.reason is RejectReason.NOTIONAL_LIMIT_EXCEEDED


def test_prices_that_contradict_the_type_are_rejected_as_invalid() -> None:
    placement = place(
        command(limit_price=Decimal("9")), RULES, LISTED, client_order_id_in_use=False, now=NOW
    )

    assert isinstance(placement.event, OrderRejected)
    assert placement.event.reason is RejectReason.INVALID_ORDER
    assert placement.event.TYPE == "order.rejected"


# --- the listing's increments: lot size and tick size ---

STOCK = MarketView(listed=True, tick_size=Decimal("0.01"), lot_size=Decimal("1"))
FRACTIONAL = MarketView(listed=True, tick_size=Decimal("0.0001"), lot_size=Decimal("0.001"))


@pytest.mark.parametrize(
    ("market", "fields", "message"),
    [
        (STOCK, {"qty": Decimal("1.5")}, "qty 1.5 is not a multiple of the lot size 1"),
        (
            STOCK,
            {"type": OrderType.LIMIT, "limit_price": Decimal("10.005")},
            "limit_price 10.005 is not a multiple of the tick size 0.01",
        ),
        (
            STOCK,
            {"type": OrderType.STOP, "stop_price": Decimal("99.999")},
            "stop_price 99.999 is not a multiple of the tick size 0.01",
        ),
        (FRACTIONAL, {"qty": Decimal("0.0005")}, "qty 0.0005 is not a multiple of the lot size"),
    ],
)
def test_a_quantity_or_price_off_the_listings_increments_is_rejected(
    market: MarketView, fields: dict[str, Any], message: str
) -> None:
    placement = place(command(**fields), RULES, market, client_order_id_in_use=False, now=NOW)
    assert placement.order.reject_reason == RejectReason.INVALID_ORDER
    assert isinstance(placement.event, OrderRejected)
    assert placement.event.message.startswith(message)


@pytest.mark.parametrize(
    ("market", "fields"),
    [
        (STOCK, {"qty": Decimal("3.000")}),  # trailing zeros are the same multiple
        (STOCK, {"type": OrderType.LIMIT, "limit_price": Decimal("10.50")}),
        (FRACTIONAL, {"qty": Decimal("0.125"), "type": OrderType.LIMIT, "limit_price": "1.2345"}),
        (LISTED, {"qty": Decimal("0.5")}),  # increments unknown: not checked
    ],
)
def test_quantities_and_prices_on_the_increments_pass(
    market: MarketView, fields: dict[str, Any]
) -> None:
    placement = place(command(**fields), RULES, market, client_order_id_in_use=False, now=NOW)
    assert placement.order.reject_reason is None, placement.event
