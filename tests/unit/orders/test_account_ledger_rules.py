"""The account ledger's rules without a database: what an order holds, the buying power check on
place and replace, what a fill does to cash, deposits and withdrawals, and the account's value."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest

from tradewind.common.contracts import OrderRejected, PlaceOrder, RejectReason
from tradewind.common.contracts.types import OrderStatus, OrderType, Side, TimeInForce
from tradewind.orders.domain import MarketView, Order, RiskRules, place, replace
from tradewind.orders.domain.activities import ActivityType, CashActivity, merge_newest_first
from tradewind.orders.domain.ledger import (
    CashMovement,
    CashMovementRefused,
    CashMovementType,
    Ledger,
    Mark,
    cash_change,
    move_cash,
    value_account,
)
from tradewind.orders.domain.matching import Execution
from tradewind.orders.domain.positions import Position
from unit.orders.builders import MARKET_BUY, SYMBOL, T0, place_command, replace_of, working_order

NOW = T0 + timedelta(milliseconds=40)
RULES = RiskRules(
    reference_prices={SYMBOL: Decimal("100")},
    max_notional=Decimal("1000000"),
    market_buy_margin=Decimal("0.05"),
)
QUOTED = MarketView(listed=True, bid=Decimal("99"), ask=Decimal("101"))
LIMIT_BUY = {**MARKET_BUY, "type": OrderType.LIMIT, "limit_price": Decimal("50")}


def placed(buying_power: str | None, market: MarketView = QUOTED, **overrides: Any) -> Order:
    return place(
        place_command(LIMIT_BUY, **overrides),
        RULES,
        market,
        client_order_id_in_use=False,
        now=NOW,
        buying_power=None if buying_power is None else Decimal(buying_power),
    ).order


# --- what an order holds ---


def test_a_limit_buy_holds_its_limit_times_its_quantity() -> None:
    order = placed("10000")
    assert order.hold_price == Decimal("50")
    assert order.held_value == Decimal("500")


def test_a_market_buy_holds_the_ask_plus_the_margin() -> None:
    order = placed("10000", type=OrderType.MARKET, limit_price=None)
    assert order.hold_price == Decimal("106.05")  # 101 x 1.05
    assert order.held_value == Decimal("1060.5")


def test_a_market_buy_without_a_quote_holds_the_reference_price_plus_the_margin() -> None:
    order = placed("10000", MarketView(listed=True), type=OrderType.MARKET, limit_price=None)
    assert order.held_value == Decimal("1050")


def test_a_stop_buy_holds_at_least_its_stop_plus_the_margin() -> None:
    order = placed("100000", type=OrderType.STOP, limit_price=None, stop_price=Decimal("120"))
    assert order.hold_price == Decimal("126")


def test_a_stop_limit_buy_holds_its_limit() -> None:
    order = placed(
        "10000", type=OrderType.STOP_LIMIT, limit_price=Decimal("60"), stop_price=Decimal("55")
    )
    assert order.held_value == Decimal("600")


def test_a_sell_holds_nothing_and_is_not_checked_against_buying_power() -> None:
    order = placed("0", side=Side.SELL)
    assert order.status is OrderStatus.NEW
    assert order.hold_price is None
    assert order.held_value == 0


def test_what_is_held_shrinks_with_fills_and_ends_with_the_order() -> None:
    order = working_order(order_type=OrderType.LIMIT, limit="50", qty="10", hold_price=Decimal(50))
    partly = dataclasses.replace(order, status=OrderStatus.PARTIALLY_FILLED, filled_qty=Decimal(4))
    assert partly.held_value == Decimal(300)
    for status in (OrderStatus.CANCELED, OrderStatus.EXPIRED, OrderStatus.FILLED):
        assert dataclasses.replace(partly, status=status).held_value == 0


# --- the buying power check ---


def test_a_buy_that_fits_the_buying_power_is_accepted() -> None:
    assert placed("500").status is OrderStatus.NEW


def test_a_buy_beyond_the_buying_power_is_rejected_naming_both_amounts() -> None:
    outcome = place(
        PlaceOrder(
            order_id=uuid4(),
            account_id="acct-1",
            symbol=SYMBOL,
            side=Side.BUY,
            type=OrderType.LIMIT,
            limit_price=Decimal("50"),
            qty=Decimal("10"),
            submitted_at=T0,
        ),
        RULES,
        QUOTED,
        client_order_id_in_use=False,
        now=NOW,
        buying_power=Decimal("499.99"),
    )
    assert outcome.order.reject_reason == RejectReason.INSUFFICIENT_BUYING_POWER.value
    assert outcome.order.hold_price is None
    assert isinstance(outcome.event, OrderRejected)
    assert "would hold 500 but the buying power is 499.99" in outcome.event.message


def test_a_market_buy_is_checked_with_its_margin() -> None:
    market: dict[str, Any] = {"type": OrderType.MARKET, "limit_price": None}
    assert placed("1060.5", QUOTED, **market).status is OrderStatus.NEW
    assert placed("1060", QUOTED, **market).reject_reason == "insufficient_buying_power"


def test_the_other_checks_come_first() -> None:
    order = placed("0", MarketView(listed=False))
    assert order.reject_reason == RejectReason.UNKNOWN_SYMBOL.value


def test_a_replace_may_use_what_the_replaced_order_holds() -> None:
    order = placed("10000")  # holds 500
    command = replace_of(order, requested_at=NOW, limit_price=Decimal("60"))
    # Buying power 100 after the 500 held: the replacement may hold 600.
    done = replace(
        order,
        command,
        RULES,
        QUOTED,
        client_order_id_in_use=False,
        now=NOW,
        buying_power=Decimal("100"),
    )
    assert done.replacement is not None
    assert done.replacement.held_value == Decimal("600")
    refused = replace(
        order,
        command,
        RULES,
        QUOTED,
        client_order_id_in_use=False,
        now=NOW,
        buying_power=Decimal("99.99"),
    )
    assert refused.replacement is None
    assert refused.refused_replacement is not None
    assert refused.refused_replacement.reject_reason == "insufficient_buying_power"
    assert refused.order == order


# --- cash ---


def execution(side: Side, qty: str, price: str) -> Execution:
    return Execution(uuid4(), uuid4(), "acct-1", SYMBOL, side, Decimal(qty), Decimal(price), 1, NOW)


def test_a_buy_fill_pays_and_a_sell_fill_receives() -> None:
    assert cash_change(execution(Side.BUY, "3", "10.5")) == Decimal("-31.5")
    assert cash_change(execution(Side.SELL, "3", "10.5")) == Decimal("31.5")


def movement(kind: CashMovementType, amount: str) -> CashMovement:
    return CashMovement(uuid4(), "acct-1", kind, Decimal(amount), None, NOW)


def test_a_deposit_raises_cash_and_buying_power() -> None:
    after = move_cash(
        Ledger("acct-1", Decimal(100), Decimal(40)), movement(CashMovementType.DEPOSIT, "50")
    )
    assert after == Ledger("acct-1", Decimal(150), Decimal(40))
    assert isinstance(after, Ledger)
    assert after.buying_power == Decimal(110)


@pytest.mark.parametrize(
    ("amount", "refused"), [("60", False), ("60.01", True), ("100", True), ("101", True)]
)
def test_a_withdrawal_may_take_neither_held_cash_nor_more_than_the_cash(
    amount: str, refused: bool
) -> None:
    ledger = Ledger("acct-1", Decimal(100), Decimal(40))
    after = move_cash(ledger, movement(CashMovementType.WITHDRAWAL, amount))
    assert isinstance(after, CashMovementRefused) is refused


def test_a_withdrawal_cannot_make_cash_negative_even_with_nothing_held() -> None:
    ledger = Ledger("acct-1", Decimal(10))
    assert isinstance(
        move_cash(ledger, movement(CashMovementType.WITHDRAWAL, "10.5")), CashMovementRefused
    )
    assert move_cash(ledger, movement(CashMovementType.WITHDRAWAL, "10")) == Ledger(
        "acct-1", Decimal(0)
    )


# --- what the account is worth ---


def position(symbol: str, qty: str, cost: str, realized: str = "0") -> Position:
    return Position("acct-1", symbol, Decimal(qty), Decimal(cost), Decimal(realized), NOW)


def test_equity_is_cash_plus_positions_at_the_mid_of_the_latest_quote() -> None:
    valuation = value_account(
        Ledger("acct-1", Decimal(1000), Decimal(200)),
        [
            position("AAA", "10", "950", "5"),
            position("BBB", "-4", "200", "-1"),
            position("CCC", "0", "0", "7"),
        ],
        {"AAA": Mark(Decimal(99), Decimal(101)), "BBB": Mark(Decimal(60), Decimal(62))},
        {},
    )
    assert valuation.long_market_value == Decimal(1000)  # 10 x 100
    assert valuation.short_market_value == Decimal(-244)  # -4 x 61
    assert valuation.equity == Decimal(1756)
    assert valuation.realized_pl == Decimal(11)
    # long: 1000 - 950; short: sold for 200, buying back costs 244
    assert valuation.unrealized_pl == Decimal(50) + Decimal(-44)


def test_a_position_without_a_quote_is_valued_at_the_reference_price_else_at_cost() -> None:
    ledger = Ledger("acct-1", Decimal(0))
    held = [position("AAA", "2", "180")]
    assert value_account(ledger, held, {}, {"AAA": Decimal(100)}).unrealized_pl == Decimal(20)
    unpriced = value_account(ledger, held, {}, {})
    assert unpriced.long_market_value == Decimal(180)
    assert unpriced.unrealized_pl == 0


# --- activities: fills and cash movements in one listing ---


def test_pages_of_fills_and_cash_movements_merge_newest_first() -> None:
    def cash(seconds: int) -> CashActivity:
        return CashActivity(
            uuid4(), NOW + timedelta(seconds=seconds), ActivityType.DEPOSIT, Decimal(1), None
        )

    fills = [cash(5), cash(3), cash(1)]  # stand-ins: only time and id order a listing
    movements = [cash(4), cash(2)]
    page, cut = merge_newest_first([fills, movements], 3)
    assert page == [fills[0], movements[0], fills[1]]
    assert cut
    assert merge_newest_first([fills, movements], 5) == (
        [*sorted(fills + movements, key=lambda a: a.transaction_time, reverse=True)],
        False,
    )


def test_a_notional_buy_holds_its_notional_until_it_is_sized() -> None:
    notional_buy: dict[str, Any] = {
        "type": OrderType.MARKET,
        "limit_price": None,
        "qty": None,
        "notional": Decimal("500"),
        "time_in_force": TimeInForce.DAY,
    }
    order = placed("500", QUOTED, **notional_buy)
    assert order.status is OrderStatus.NEW
    assert order.held_value == Decimal("500")
    assert placed("499.99", QUOTED, **notional_buy).reject_reason == "insufficient_buying_power"
