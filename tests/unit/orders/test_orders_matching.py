"""Matching working orders against quotes, without a database: every fill rule, sizes, priority."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from uuid import uuid5

import pytest

from tradewind.common.contracts import OrderCanceled, OrderFilled, OrderPartiallyFilled
from tradewind.common.contracts.types import OrderStatus, OrderType, Side, TimeInForce
from tradewind.orders.domain import (
    Match,
    Order,
    OrderChange,
    Position,
    SymbolBook,
    execution_id,
    match_quote,
    settle,
)
from unit.orders.builders import SYMBOL, T0, empty_book, quote, working_order

NOW = T0 + timedelta(minutes=1)


def only_change(match: Match) -> OrderChange:
    (change,) = match.changes
    return change


def fill_price(order: Order, **quote_fields: str) -> Decimal | None:
    """The price ``order`` fills at on one quote, or None if it does not fill."""
    match = match_quote(empty_book(), quote(1, **quote_fields), [order], NOW)
    executions = match.executions
    return executions[0].price if executions else None


# --- the price rules, type x side ---


@pytest.mark.parametrize(
    ("side", "order_type", "limit", "stop", "bid", "ask", "expected"),
    [
        # market: buy at the ask, sell at the bid
        (Side.BUY, OrderType.MARKET, None, None, "100", "100.5", "100.5"),
        (Side.SELL, OrderType.MARKET, None, None, "100", "100.5", "100"),
        # limit buy: fills when ask <= limit, at the ask (never worse than the limit)
        (Side.BUY, OrderType.LIMIT, "100.5", None, "100", "100.5", "100.5"),
        (Side.BUY, OrderType.LIMIT, "101", None, "100", "100.5", "100.5"),
        (Side.BUY, OrderType.LIMIT, "100.49", None, "100", "100.5", None),
        # limit sell: fills when bid >= limit, at the bid
        (Side.SELL, OrderType.LIMIT, "100", None, "100", "100.5", "100"),
        (Side.SELL, OrderType.LIMIT, "99", None, "100", "100.5", "100"),
        (Side.SELL, OrderType.LIMIT, "100.01", None, "100", "100.5", None),
        # buy stop: triggers when ask >= stop, then fills at the ask like a market order
        (Side.BUY, OrderType.STOP, None, "100.5", "100", "100.5", "100.5"),
        (Side.BUY, OrderType.STOP, None, "100", "100", "100.5", "100.5"),
        (Side.BUY, OrderType.STOP, None, "100.51", "100", "100.5", None),
        # sell stop: triggers when bid <= stop, then fills at the bid
        (Side.SELL, OrderType.STOP, None, "100", "100", "100.5", "100"),
        (Side.SELL, OrderType.STOP, None, "100.2", "100", "100.5", "100"),
        (Side.SELL, OrderType.STOP, None, "99.99", "100", "100.5", None),
        # stop-limit: triggers like a stop, then fills only within its limit
        (Side.BUY, OrderType.STOP_LIMIT, "101", "100.5", "100", "100.5", "100.5"),
        (Side.BUY, OrderType.STOP_LIMIT, "100.4", "100.5", "100", "100.5", None),
        (Side.SELL, OrderType.STOP_LIMIT, "99.5", "100", "100", "100.5", "100"),
        (Side.SELL, OrderType.STOP_LIMIT, "100.1", "100", "100", "100.5", None),
    ],
)
def test_fill_price_by_type_and_side(
    side: Side,
    order_type: OrderType,
    limit: str | None,
    stop: str | None,
    bid: str,
    ask: str,
    expected: str | None,
) -> None:
    order = working_order(side=side, order_type=order_type, limit=limit, stop=stop)

    price = fill_price(order, bid=bid, ask=ask)

    assert price == (None if expected is None else Decimal(expected))


def test_a_fill_takes_the_whole_remainder_when_the_quote_is_big_enough() -> None:
    order = working_order(qty="10")

    change = only_change(match_quote(empty_book(), quote(7, ask="50.25"), [order], NOW))

    assert change.execution is not None
    assert change.execution.qty == Decimal("10")
    assert change.execution.price == Decimal("50.25")
    assert change.execution.quote_sequence == 7
    assert change.execution.executed_at == NOW
    assert change.order.status is OrderStatus.FILLED
    assert change.order.filled_qty == Decimal("10")
    assert change.order.filled_avg_price == Decimal("50.25")
    assert change.order.filled_at == change.order.updated_at == NOW
    assert change.order.version == order.version + 1
    assert change.previous_version == order.version
    assert not change.remainder_canceled


# --- stops ---


def test_a_stop_triggers_then_behaves_as_market_on_the_same_quote() -> None:
    stop = working_order(order_type=OrderType.STOP, stop="105")

    quiet = match_quote(empty_book(), quote(1, bid="103.5", ask="104"), [stop], NOW)
    crossing = match_quote(quiet.book, quote(2, bid="104.5", ask="105"), [stop], NOW)

    assert quiet.changes == ()
    change = only_change(crossing)
    assert change.order.stop_triggered_at == NOW
    assert change.order.status is OrderStatus.FILLED
    assert change.execution is not None
    assert change.execution.price == Decimal("105")


def test_a_triggered_stop_limit_outside_its_limit_is_recorded_and_keeps_working() -> None:
    order = working_order(
        side=Side.SELL, order_type=OrderType.STOP_LIMIT, stop="95", limit="94.5", qty="3"
    )

    triggered = only_change(match_quote(empty_book(), quote(1, bid="94", ask="94.2"), [order], NOW))
    later = NOW + timedelta(seconds=5)
    filled = only_change(
        match_quote(SymbolBook(SYMBOL, 1), quote(2, bid="94.8"), [triggered.order], later)
    )

    assert triggered.execution is None
    assert triggered.order.status is OrderStatus.NEW
    assert triggered.order.stop_triggered_at == NOW
    assert triggered.order.version == order.version + 1, "the trigger is a change of the order"
    assert filled.execution is not None
    assert filled.execution.price == Decimal("94.8")
    assert filled.order.stop_triggered_at == NOW, "triggered once, when the stop was reached"


def test_a_pending_stop_does_not_meet_an_ioc_quote_before_it_triggers() -> None:
    order = working_order(order_type=OrderType.STOP, stop="105", tif=TimeInForce.IOC)

    match = match_quote(empty_book(), quote(1, ask="104"), [order], NOW)

    assert match.changes == ()


# --- sizes ---


def test_a_quote_smaller_than_the_remainder_fills_partially_and_the_rest_keeps_working() -> None:
    order = working_order(qty="10")

    first = only_change(match_quote(empty_book(), quote(1, ask="100", ask_size="4"), [order], NOW))
    second = only_change(
        match_quote(SymbolBook(SYMBOL, 1), quote(2, ask="101", ask_size="50"), [first.order], NOW)
    )

    assert first.execution is not None
    assert first.execution.qty == Decimal("4")
    assert first.order.status is OrderStatus.PARTIALLY_FILLED
    assert first.order.remaining_qty == Decimal("6")
    assert first.order.filled_at is None
    assert second.execution is not None
    assert second.execution.qty == Decimal("6")
    assert second.order.status is OrderStatus.FILLED
    # (4 x 100 + 6 x 101) / 10
    assert second.order.filled_avg_price == Decimal("100.6")


def test_the_size_is_shared_in_time_priority_oldest_first() -> None:
    oldest = working_order(qty="5", age=30)
    middle = working_order(qty="5", age=20)
    newest = working_order(qty="5", age=10)

    match = match_quote(empty_book(), quote(1, ask_size="7"), [newest, oldest, middle], NOW)

    filled = {execution.order_id: execution.qty for execution in match.executions}
    assert filled == {oldest.id: Decimal("5"), middle.id: Decimal("2")}
    assert [change.order.id for change in match.changes] == [oldest.id, middle.id]


def test_an_order_that_does_not_trade_leaves_the_size_to_the_next() -> None:
    out_of_limit = working_order(order_type=OrderType.LIMIT, limit="99", qty="5", age=30)
    market = working_order(qty="5", age=10)

    match = match_quote(
        empty_book(), quote(1, ask="100", ask_size="5"), [out_of_limit, market], NOW
    )

    assert [(e.order_id, e.qty) for e in match.executions] == [(market.id, Decimal("5"))]


def test_buys_take_the_ask_size_and_sells_the_bid_size() -> None:
    buy = working_order(side=Side.BUY, qty="8")
    sell = working_order(side=Side.SELL, qty="8")

    match = match_quote(empty_book(), quote(1, bid_size="3", ask_size="6"), [buy, sell], NOW)

    filled = {execution.order_id: execution.qty for execution in match.executions}
    assert filled == {buy.id: Decimal("6"), sell.id: Decimal("3")}


def test_a_quote_with_no_size_fills_nothing() -> None:
    order = working_order()

    match = match_quote(empty_book(), quote(1, ask_size="0"), [order], NOW)

    assert match.changes == ()
    assert match.book.last_sequence == 1


def test_ties_in_time_are_broken_by_order_id() -> None:
    first, second = sorted([working_order(qty="5"), working_order(qty="5")], key=lambda o: o.id)

    match = match_quote(empty_book(), quote(1, ask_size="5"), [second, first], NOW)

    assert [execution.order_id for execution in match.executions] == [first.id]


# --- time in force ---


def test_ioc_fills_what_it_can_and_cancels_the_rest() -> None:
    order = working_order(qty="10", tif=TimeInForce.IOC)

    change = only_change(match_quote(empty_book(), quote(1, ask_size="4"), [order], NOW))

    assert change.execution is not None
    assert change.execution.qty == Decimal("4")
    assert change.filled is not None
    assert change.filled.status is OrderStatus.PARTIALLY_FILLED
    assert change.remainder_canceled
    assert change.order.status is OrderStatus.CANCELED
    assert change.order.filled_qty == Decimal("4")
    assert change.order.canceled_at == NOW
    assert change.order.version == order.version + 2, "one version per event: fill, cancel"


def test_ioc_that_cannot_trade_is_canceled_on_its_first_quote() -> None:
    order = working_order(order_type=OrderType.LIMIT, limit="99", tif=TimeInForce.IOC)

    change = only_change(match_quote(empty_book(), quote(1, ask="100"), [order], NOW))

    assert change.execution is None
    assert change.remainder_canceled
    assert change.order.status is OrderStatus.CANCELED
    assert change.order.filled_qty == 0


def test_ioc_that_fills_entirely_is_just_filled() -> None:
    order = working_order(qty="3", tif=TimeInForce.IOC)

    change = only_change(match_quote(empty_book(), quote(1), [order], NOW))

    assert change.order.status is OrderStatus.FILLED
    assert not change.remainder_canceled


def test_fok_without_enough_size_is_canceled_and_takes_nothing() -> None:
    fok = working_order(qty="10", tif=TimeInForce.FOK, age=20)
    behind = working_order(qty="4", age=10)

    match = match_quote(empty_book(), quote(1, ask_size="9"), [fok, behind], NOW)

    fok_change, behind_change = match.changes
    assert fok_change.execution is None
    assert fok_change.remainder_canceled
    assert fok_change.order.status is OrderStatus.CANCELED
    assert behind_change.execution is not None
    assert behind_change.execution.qty == Decimal("4"), "the fok left the size to the next"


def test_fok_with_enough_size_fills_entirely_on_one_quote() -> None:
    order = working_order(qty="10", tif=TimeInForce.FOK)

    change = only_change(match_quote(empty_book(), quote(1, ask_size="10"), [order], NOW))

    assert change.execution is not None
    assert change.execution.qty == Decimal("10")
    assert change.order.status is OrderStatus.FILLED


def test_fok_out_of_its_limit_is_canceled() -> None:
    order = working_order(
        side=Side.SELL, order_type=OrderType.LIMIT, limit="101", tif=TimeInForce.FOK
    )

    change = only_change(match_quote(empty_book(), quote(1, bid="100"), [order], NOW))

    assert change.execution is None
    assert change.order.status is OrderStatus.CANCELED


@pytest.mark.parametrize("tif", [TimeInForce.DAY, TimeInForce.GTC])
def test_day_and_gtc_orders_rest_until_they_can_trade(tif: TimeInForce) -> None:
    order = working_order(order_type=OrderType.LIMIT, limit="99", tif=tif)

    match = match_quote(empty_book(), quote(1, ask="100"), [order], NOW)

    assert match.changes == ()


# --- sequence, ids, what is skipped ---


def test_a_quote_not_newer_than_the_book_is_refused() -> None:
    book = SymbolBook(SYMBOL, last_sequence=5)

    assert not book.is_older_than(quote(5))
    assert not book.is_older_than(quote(4))
    assert book.is_older_than(quote(6))
    with pytest.raises(ValueError, match="not newer"):
        match_quote(book, quote(5), [working_order()], NOW)


def test_the_book_after_a_quote_holds_it() -> None:
    match = match_quote(empty_book(), quote(3, bid="99", ask="99.5", bid_size="7"), [], NOW)

    assert match.book == SymbolBook(
        SYMBOL,
        last_sequence=3,
        bid_price=Decimal("99"),
        bid_size=Decimal("7"),
        ask_price=Decimal("99.5"),
        ask_size=Decimal("1000"),
        quoted_at=quote(3).timestamp,
        bid_available=Decimal("7"),
        ask_available=Decimal("1000"),
    )


def test_execution_ids_are_derived_from_order_and_quote() -> None:
    order = working_order()

    first = match_quote(empty_book(), quote(9), [order], NOW)
    again = match_quote(empty_book(), quote(9), [order], NOW)

    assert first == again
    assert first.executions[0].id == execution_id(order.id, 9) == uuid5(order.id, "quote:9")
    assert execution_id(order.id, 10) != execution_id(order.id, 9)


def test_orders_that_are_not_working_or_of_another_symbol_are_left_alone() -> None:
    done = working_order(status=OrderStatus.FILLED)
    other = working_order(symbol="OTHER")

    assert match_quote(empty_book(), quote(1), [done, other], NOW).changes == ()


# --- settlement: positions and events ---


def test_fill_events_carry_the_execution_the_order_and_the_position_after() -> None:
    first = working_order(qty="4", age=20)
    second = working_order(qty="6", age=10)
    match = match_quote(empty_book(), quote(1, ask="100", ask_size="8"), [first, second], NOW)
    held = Position("acct-1", SYMBOL, Decimal("-1"), Decimal("90"), Decimal("0"), T0)

    settlement = settle(match, {"acct-1": held}, NOW)

    filled, partial = (staged.data for staged in settlement.events)
    assert isinstance(filled, OrderFilled)
    assert filled.order.id == first.id
    assert (filled.qty, filled.price, filled.filled_qty) == (Decimal(4), Decimal(100), Decimal(4))
    assert filled.filled_avg_price == Decimal("100")
    assert filled.position_qty == Decimal("3")
    assert filled.execution_id == match.executions[0].id
    assert filled.timestamp == NOW
    assert isinstance(partial, OrderPartiallyFilled)
    assert partial.order.status is OrderStatus.PARTIALLY_FILLED
    assert (partial.qty, partial.filled_qty, partial.position_qty) == (
        Decimal(4),
        Decimal(4),
        Decimal(7),
    )
    (position,) = settlement.positions
    assert position.qty == Decimal("7")
    assert position.realized_pl == Decimal("-10"), "closed the short of 1 at 90 by buying at 100"
    assert [staged.id for staged in settlement.events] == [
        str(execution.id) for execution in match.executions
    ]


def test_an_ioc_remainder_is_announced_as_canceled_after_its_fill() -> None:
    order = working_order(qty="10", tif=TimeInForce.IOC, account="acct-9")
    match = match_quote(empty_book(), quote(4, ask_size="4"), [order], NOW)

    settlement = settle(match, {}, NOW)

    partial, canceled = (staged.data for staged in settlement.events)
    assert isinstance(partial, OrderPartiallyFilled)
    assert partial.position_qty == Decimal("4"), "a missing position starts flat"
    assert isinstance(canceled, OrderCanceled)
    assert canceled.order.status is OrderStatus.CANCELED
    assert canceled.order.filled_qty == Decimal("4")
    assert canceled.order.version == partial.order.version + 1
    assert settlement.positions[0].account_id == "acct-9"


def test_settling_a_match_without_executions_changes_no_position() -> None:
    order = working_order(order_type=OrderType.STOP, stop="200")
    match = match_quote(empty_book(), quote(1, ask="201", ask_size="0"), [order], NOW)

    settlement = settle(match, {}, NOW)

    assert settlement.positions == ()
    assert settlement.events == (), "a stop trigger alone is no event"
    assert only_change(match).order.stop_triggered_at == NOW
