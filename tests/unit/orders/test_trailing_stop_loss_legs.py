"""A bracket's stop-loss as a trailing stop: held with its trail until the entry fills, then
trailing from the entry's average fill price, moved by later quotes, and the first exit to fill
cancels the other (users ask brokers for this; Alpaca's brackets take only fixed stops)."""

from __future__ import annotations

from decimal import Decimal
from uuid import uuid4

import pytest
from pydantic import ValidationError

from tradewind.common.contracts import PlaceOrder, StopLoss, TakeProfit
from tradewind.common.contracts.order_classes import place_violation
from tradewind.common.contracts.types import OrderClass, OrderStatus, OrderType, Side, TimeInForce
from tradewind.orders.domain import RiskRules
from tradewind.orders.domain.order_classes import place_group
from unit.orders.builders import SYMBOL, T0
from unit.orders.test_order_class_rules import LISTED, Market, placed


def trailing_bracket(
    stop_loss: StopLoss, *, order_class: OrderClass = OrderClass.BRACKET
) -> PlaceOrder:
    return PlaceOrder(
        order_id=uuid4(),
        account_id="acct-1",
        symbol=SYMBOL,
        side=Side.BUY,
        type=OrderType.LIMIT,
        qty=Decimal(10),
        limit_price=Decimal(101),
        time_in_force=TimeInForce.GTC,
        submitted_at=T0,
        order_class=order_class,
        take_profit=TakeProfit(limit_price=Decimal(120)),
        stop_loss=stop_loss,
    )


def test_the_trailing_leg_is_held_with_its_trail_and_no_stop_yet() -> None:
    entry, take_profit, stop_loss = placed(trailing_bracket(StopLoss(trail_price=Decimal(2))))
    assert stop_loss.type is OrderType.TRAILING_STOP
    assert (stop_loss.status, stop_loss.side) == (OrderStatus.HELD, Side.SELL)
    assert (stop_loss.trail_price, stop_loss.hwm, stop_loss.stop_price) == (Decimal(2), None, None)
    assert take_profit.status is OrderStatus.HELD
    assert entry.status is OrderStatus.NEW


def test_it_trails_from_the_entry_fill_then_follows_the_bid_and_cancels_the_take_profit() -> None:
    entry, take_profit, stop_loss = placed(trailing_bracket(StopLoss(trail_price=Decimal(2))))
    market = Market.of(entry, take_profit, stop_loss)

    market.quote(1, bid="100", ask="100.5")  # the entry buys 10 at 100.5
    assert market[entry.id].status is OrderStatus.FILLED
    leg = market[stop_loss.id]
    assert leg.status is OrderStatus.NEW
    assert (leg.qty, leg.hwm, leg.stop_price) == (Decimal(10), Decimal("100.5"), Decimal("98.5"))

    market.quote(2, bid="104", ask="104.5")  # a new high bid raises the mark and the stop
    leg = market[stop_loss.id]
    assert (leg.hwm, leg.stop_price, leg.status) == (Decimal(104), Decimal(102), OrderStatus.NEW)

    market.quote(3, bid="103", ask="103.5")  # lower, not yet at the stop: nothing moves
    assert market[stop_loss.id].stop_price == Decimal(102)

    market.quote(4, bid="101.9", ask="102.4")  # through the stop: it sells at the bid
    assert market.state(stop_loss.id) == ("filled", "10", "10")
    assert market.state(take_profit.id)[0] == "canceled"


def test_a_percent_trail_starts_from_the_entry_fill_too() -> None:
    entry, take_profit, stop_loss = placed(trailing_bracket(StopLoss(trail_percent=Decimal(1))))
    market = Market.of(entry, take_profit, stop_loss)
    market.quote(1, bid="99.5", ask="100")
    leg = market[stop_loss.id]
    assert (leg.hwm, leg.stop_price) == (Decimal(100), Decimal(99))


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"stop_price": Decimal(95), "trail_price": Decimal(2)},
        {"trail_price": Decimal(2), "trail_percent": Decimal(1)},
        {"trail_price": Decimal(2), "limit_price": Decimal(95)},
    ],
)
def test_a_stop_loss_is_exactly_one_kind_of_stop(fields: dict[str, Decimal]) -> None:
    with pytest.raises(ValidationError):
        StopLoss(**fields)


def test_an_oco_cannot_trail_its_stop_loss_it_has_no_entry_to_start_from() -> None:
    cmd = trailing_bracket(StopLoss(trail_price=Decimal(2)), order_class=OrderClass.OCO)
    assert place_violation(cmd.model_copy(update={"take_profit": None})) == (
        "stop_loss",
        "an oco's stop_loss takes a stop_price, not a trail",
    )


def test_a_trailing_stop_loss_skips_the_fixed_price_comparisons() -> None:
    # A fixed stop at 120 would be refused (at or above the take-profit and the entry's limit).
    assert place_violation(trailing_bracket(StopLoss(trail_price=Decimal(50)))) is None


def test_with_no_quote_and_no_reference_price_the_trailing_leg_is_valued_at_its_entry() -> None:
    cmd = trailing_bracket(StopLoss(trail_price=Decimal(2)))
    unpriced = RiskRules(reference_prices={}, max_notional=Decimal("1000000"))
    placement = place_group(cmd, unpriced, LISTED, client_order_id_in_use=False, now=T0)
    assert [order.status for order in placement.orders] == [
        OrderStatus.NEW,
        OrderStatus.HELD,
        OrderStatus.HELD,
    ]
