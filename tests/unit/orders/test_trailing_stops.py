"""Trailing stops: the mark follows the market, the stop follows the mark, a cross triggers.

Pure domain: acceptance (``place``), each quote (``match_quote``), replace with a new trail;
and a recorded quote sequence (replay/trailing_session.json) replayed against the states worked
out by hand (replay/trailing_expected.json).
"""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from tradewind.common.contracts import (
    OrderFilled,
    OrderReplaced,
    PlaceOrder,
    Quote,
    RejectReason,
)
from tradewind.common.contracts.types import OrderStatus, OrderType, Side, TimeInForce
from tradewind.orders.domain import (
    MarketView,
    Order,
    RiskRules,
    SymbolBook,
    can_execute,
    match_quote,
    place,
    replace,
    settle,
    trailing,
)
from unit.orders.builders import SYMBOL, T0, accepted_order_of, place_command, quote, replace_of

RECORDINGS = Path(__file__).parent / "replay"
RULES = RiskRules(reference_prices={}, max_notional=Decimal("1000000"))


def market(bid: str = "100", ask: str = "100.1") -> MarketView:
    return MarketView(
        listed=True,
        bid=Decimal(bid),
        ask=Decimal(ask),
        tick_size=Decimal("0.01"),
        lot_size=Decimal(1),
    )


TRAILING_SELL: dict[str, Any] = {
    "side": Side.SELL,
    "type": OrderType.TRAILING_STOP,
    "qty": Decimal(5),
    "trail_price": Decimal(1),
    "time_in_force": TimeInForce.GTC,
}


def trailing_command(**overrides: Any) -> PlaceOrder:
    return place_command(TRAILING_SELL, **overrides)


def accepted(view: MarketView | None = None, **overrides: Any) -> Order:
    return accepted_order_of(trailing_command(**overrides), RULES, view or market(), now=T0)


def after(order: Order, *quotes: Quote) -> Order:
    book = SymbolBook(SYMBOL)
    for each in quotes:
        match = match_quote(book, each, [order], T0 + timedelta(seconds=each.sequence))
        book = match.book
        for change in match.changes:
            order = change.order
    return order


# --- the stop price ---


@pytest.mark.parametrize(
    ("side", "hwm", "trail_price", "trail_percent", "stop"),
    [
        (Side.SELL, "100", "1.5", None, "98.5"),
        (Side.BUY, "100", "1.5", None, "101.5"),
        (Side.SELL, "100", None, "2", "98"),
        (Side.BUY, "100", None, "2", "102"),
        # More places than a contract carries: away from the market, never an earlier trigger.
        (Side.SELL, "33.333333333", None, "3", "32.333333333"),  # 32.33333333301 down
        (Side.BUY, "33.333333333", None, "3", "34.333333333"),  # 34.33333333299 up
    ],
)
def test_the_stop_sits_the_trail_away_from_the_mark_on_the_protecting_side(
    side: Side, hwm: str, trail_price: str | None, trail_percent: str | None, stop: str
) -> None:
    found = trailing.stop_price(
        side,
        Decimal(hwm),
        None if trail_price is None else Decimal(trail_price),
        None if trail_percent is None else Decimal(trail_percent),
    )
    assert found == Decimal(stop)


# --- acceptance ---


def test_a_sell_trailing_stop_starts_its_mark_at_the_bid() -> None:
    order = accepted(market(bid="100", ask="100.1"))
    assert (order.hwm, order.stop_price) == (Decimal("100"), Decimal("99"))


def test_a_buy_trailing_stop_starts_its_mark_at_the_ask() -> None:
    order = accepted(
        market(bid="100", ask="100.1"), side=Side.BUY, trail_percent=Decimal(1), trail_price=None
    )
    assert (order.hwm, order.stop_price) == (Decimal("100.1"), Decimal("101.101"))


def test_without_a_quote_a_trailing_stop_is_rejected_as_unpriced() -> None:
    placement = place(
        trailing_command(), RULES, MarketView(listed=True), client_order_id_in_use=False, now=T0
    )
    assert placement.order.reject_reason == RejectReason.PRICE_UNAVAILABLE


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"trail_percent": Decimal(2)}, "set one of trail_price or trail_percent, not both"),
        ({"trail_price": None}, "trailing_stop orders need a trail_price or a trail_percent"),
        ({"time_in_force": TimeInForce.IOC}, "trailing_stop orders are day or gtc"),
        ({"stop_price": Decimal(99)}, "trailing_stop orders have no stop_price"),
        ({"trail_price": Decimal("0.005")}, "trail_price 0.005 is not a multiple of the tick"),
        ({"type": OrderType.MARKET}, "market orders have no trail_price"),
    ],
)
def test_an_inconsistent_trailing_stop_is_rejected_naming_the_rule(
    overrides: dict[str, Any], message: str
) -> None:
    placement = place(
        trailing_command(**overrides), RULES, market(), client_order_id_in_use=False, now=T0
    )
    assert placement.order.reject_reason == RejectReason.INVALID_ORDER
    assert message in str(placement.event.model_dump()["message"])


# --- quotes ---


def test_a_higher_bid_raises_a_sells_mark_and_stop_and_is_a_change_without_an_event() -> None:
    order = accepted()
    match = match_quote(SymbolBook(SYMBOL), quote(2, bid="100.6", ask="100.7"), [order], T0)

    (change,) = match.changes
    assert (change.order.hwm, change.order.stop_price) == (Decimal("100.6"), Decimal("99.6"))
    assert change.order.version == order.version + 1
    assert change.execution is None
    assert settle(match, {}, T0).events == ()


def test_a_lower_bid_above_the_stop_changes_nothing() -> None:
    order = accepted()
    assert not can_execute(order, quote(2, bid="99.5", ask="99.6"))
    assert (
        match_quote(SymbolBook(SYMBOL), quote(2, bid="99.5", ask="99.6"), [order], T0).changes == ()
    )


def test_a_bid_at_the_stop_triggers_and_fills_at_the_bid() -> None:
    order = after(accepted(), quote(2, bid="101", ask="101.1"))
    match = match_quote(SymbolBook(SYMBOL), quote(3, bid="100", ask="100.1"), [order], T0)

    (change,) = match.changes
    assert change.order.status is OrderStatus.FILLED
    assert change.order.stop_triggered_at == T0
    assert change.execution is not None
    assert (change.execution.qty, change.execution.price) == (Decimal(5), Decimal(100))


def test_a_lower_ask_lowers_a_buys_mark_and_an_ask_at_its_stop_triggers_it() -> None:
    order = accepted(side=Side.BUY)  # mark 100.1, stop 101.1
    lowered = after(order, quote(2, bid="98.9", ask="99"))
    assert (lowered.hwm, lowered.stop_price) == (Decimal("99"), Decimal("100"))

    filled = after(lowered, quote(3, bid="99.9", ask="100"))
    assert filled.status is OrderStatus.FILLED
    assert filled.filled_avg_price == Decimal(100)


def test_a_triggered_trailing_stop_no_longer_follows_the_market() -> None:
    order = accepted(qty=Decimal(50))
    partly = after(order, quote(2, bid="99", ask="99.1", bid_size="10"))
    assert partly.status is OrderStatus.PARTIALLY_FILLED
    assert not partly.stop_pending

    later = after(partly, quote(3, bid="120", ask="120.1", bid_size="10"))
    assert later.hwm == Decimal("100")  # the mark stopped when it triggered
    assert later.filled_qty == Decimal(20)


# --- replace ---


def test_a_new_trail_keeps_the_mark_and_moves_the_stop() -> None:
    order = after(accepted(), quote(2, bid="102", ask="102.1"))
    command = replace_of(order, trail_percent=Decimal(5), requested_at=T0)
    outcome = replace(
        order, command, RULES, market(bid="102"), client_order_id_in_use=False, now=T0
    )

    assert isinstance(outcome.event, OrderReplaced)
    assert outcome.replacement is not None
    new = outcome.replacement
    assert (new.hwm, new.trail_price, new.trail_percent) == (Decimal(102), None, Decimal(5))
    assert new.stop_price == Decimal("96.9")


def test_a_trail_on_an_order_that_does_not_trail_is_refused() -> None:
    order = accepted(type=OrderType.MARKET, trail_price=None)
    command = replace_of(order, trail_price=Decimal(1), requested_at=T0)
    outcome = replace(order, command, RULES, market(), client_order_id_in_use=False, now=T0)
    assert outcome.replacement is None
    assert "market orders have no trail" in outcome.event.model_dump()["reason"]


# --- the recorded session ---


def load(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((RECORDINGS / name).read_text())
    return loaded


def state(order: Order) -> dict[str, Any]:
    return {"hwm": order.hwm, "stop_price": order.stop_price, "status": order.status.value}


def expected_state(spec: dict[str, str]) -> dict[str, Any]:
    return {
        "hwm": Decimal(spec["hwm"]),
        "stop_price": Decimal(spec["stop_price"]),
        "status": spec["status"],
    }


def test_a_recorded_session_moves_marks_and_triggers_as_worked_out_by_hand() -> None:
    session, expected = load("trailing_session.json"), load("trailing_expected.json")
    first = session["accepted_on"]
    view = market(bid=first["bid"], ask=first["ask"])
    names: dict[UUID, str] = {}
    orders: dict[str, Order] = {}
    for spec in session["orders"]:
        trail_price, trail_percent = spec.get("trail_price"), spec.get("trail_percent")
        order = accepted(
            view,
            order_id=UUID(spec["id"]),
            side=Side(spec["side"]),
            qty=Decimal(spec["qty"]),
            trail_price=None if trail_price is None else Decimal(trail_price),
            trail_percent=None if trail_percent is None else Decimal(trail_percent),
            time_in_force=TimeInForce(spec["time_in_force"]),
        )
        names[order.id] = spec["name"]
        orders[spec["name"]] = order
    assert {name: state(o) for name, o in orders.items()} == {
        name: expected_state(spec) for name, spec in expected["after_acceptance"].items()
    }

    book = SymbolBook(session["symbol"], last_sequence=first["sequence"])
    for recorded in session["quotes"]:
        sequence = recorded["sequence"]
        each = quote(
            sequence,
            bid=recorded["bid"],
            ask=recorded["ask"],
            bid_size=recorded["bid_size"],
            ask_size=recorded["ask_size"],
        )
        now = T0 + timedelta(seconds=sequence)
        working = [order for order in orders.values() if order.is_working]
        match = match_quote(book, each, working, now)
        # The store loads only what can execute: the outcome is the same.
        candidates = [order for order in working if can_execute(order, each)]
        assert match_quote(book, each, candidates, now) == match
        book = match.book
        for change in match.changes:
            orders[names[change.order.id]] = change.order
        fills = {
            names[event.order.id]: f"{event.qty:f} @ {event.price:f}"
            for event in (staged.data for staged in settle(match, {}, now).events)
            if isinstance(event, OrderFilled)
        }
        silent = sorted(names[c.order.id] for c in match.changes if c.execution is None)

        want = expected["after_quote"][str(sequence)]
        assert {name: state(orders[name]) for name in want} == {
            name: expected_state(spec) for name, spec in want.items()
        }, sequence
        assert fills == {name: spec["filled"] for name, spec in want.items() if "filled" in spec}
        assert silent == expected["changed_without_event"].get(str(sequence), [])
