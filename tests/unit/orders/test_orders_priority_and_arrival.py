"""Price-time priority, the candidates a quote needs, and execution on arrival — without a database.

The store loads, for a quote, only the orders that ``can_execute`` on it, and of the resting day
and gtc orders only as many (in priority) as the quote's size can fill. The property tests here
say that this never changes the outcome: matching the candidates gives exactly the match of every
working order of the symbol.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tradewind.common.contracts import Quote
from tradewind.common.contracts.types import OrderStatus, OrderType, Side, TimeInForce
from tradewind.orders.domain import (
    Order,
    SymbolBook,
    can_execute,
    execute_on_arrival,
    liquidity_covered,
    match_quote,
    price_time_priority,
    trailing,
)
from unit.orders.builders import SYMBOL, T0, empty_book, quote, working_order

NOW = T0 + timedelta(minutes=1)
FRESH = timedelta(seconds=2)


def filled_ids(orders: list[Order], **quote_fields: str) -> dict[object, Decimal]:
    match = match_quote(empty_book(), quote(1, **quote_fields), orders, NOW)
    return {execution.order_id: execution.qty for execution in match.executions}


# --- price-time priority ---


def test_a_better_priced_buy_fills_before_an_older_one() -> None:
    older_at_100 = working_order(order_type=OrderType.LIMIT, limit="100", qty="5", age=30)
    newer_at_101 = working_order(order_type=OrderType.LIMIT, limit="101", qty="5", age=10)

    filled = filled_ids([older_at_100, newer_at_101], ask="99", ask_size="5")

    assert filled == {newer_at_101.id: Decimal("5")}


def test_a_better_priced_sell_fills_before_an_older_one() -> None:
    older_at_99 = working_order(
        side=Side.SELL, order_type=OrderType.LIMIT, limit="99", qty="5", age=30
    )
    newer_at_98 = working_order(
        side=Side.SELL, order_type=OrderType.LIMIT, limit="98", qty="5", age=10
    )

    filled = filled_ids([older_at_99, newer_at_98], bid="100", bid_size="5")

    assert filled == {newer_at_98.id: Decimal("5")}


def test_a_market_order_comes_before_every_limit_and_equal_prices_go_oldest_first() -> None:
    limit_old = working_order(order_type=OrderType.LIMIT, limit="200", qty="4", age=50)
    market_new = working_order(qty="4", age=5)
    limit_same_newer = working_order(order_type=OrderType.LIMIT, limit="200", qty="4", age=40)

    filled = filled_ids([limit_same_newer, limit_old, market_new], ask="100", ask_size="10")

    assert filled == {
        market_new.id: Decimal("4"),
        limit_old.id: Decimal("4"),
        limit_same_newer.id: Decimal("2"),
    }
    ranked = sorted([limit_same_newer, limit_old, market_new], key=price_time_priority)
    assert ranked == [market_new, limit_old, limit_same_newer]


def test_a_stop_triggered_by_the_quote_ranks_as_a_market_order_of_its_age() -> None:
    limit = working_order(order_type=OrderType.LIMIT, limit="101", qty="5", age=40)
    stop = working_order(order_type=OrderType.STOP, stop="100", qty="5", age=10)

    filled = filled_ids([limit, stop], ask="100", ask_size="5")

    assert filled == {stop.id: Decimal("5")}


# --- what a quote can change ---


def test_can_execute_names_the_orders_a_quote_changes() -> None:
    quote_ = quote(1, bid="100", ask="100.5")
    cases = {
        "market buy": (working_order(), True),
        "limit buy at the ask": (working_order(order_type=OrderType.LIMIT, limit="100.5"), True),
        "limit buy below the ask": (
            working_order(order_type=OrderType.LIMIT, limit="100.4"),
            False,
        ),
        "limit sell at the bid": (
            working_order(side=Side.SELL, order_type=OrderType.LIMIT, limit="100"),
            True,
        ),
        "limit sell above the bid": (
            working_order(side=Side.SELL, order_type=OrderType.LIMIT, limit="100.1"),
            False,
        ),
        "buy stop reached": (working_order(order_type=OrderType.STOP, stop="100.5"), True),
        "buy stop not reached": (working_order(order_type=OrderType.STOP, stop="100.6"), False),
        "sell stop reached": (
            working_order(side=Side.SELL, order_type=OrderType.STOP, stop="100"),
            True,
        ),
        "out-of-limit ioc (canceled by its first quote)": (
            working_order(order_type=OrderType.LIMIT, limit="90", tif=TimeInForce.IOC),
            True,
        ),
        "pending ioc stop (not met yet)": (
            working_order(order_type=OrderType.STOP, stop="101", tif=TimeInForce.IOC),
            False,
        ),
        "filled order": (working_order(status=OrderStatus.FILLED), False),
        "another symbol": (working_order(symbol="OTHER"), False),
    }

    decided = {name: can_execute(order, quote_) for name, (order, _) in cases.items()}

    assert decided == {name: expected for name, (_, expected) in cases.items()}


prices = st.sampled_from(["98", "99", "99.5", "100", "100.5", "101", "102"])


@st.composite
def orders(draw: st.DrawFn) -> Order:
    order_type = draw(st.sampled_from(list(OrderType)))
    limit = draw(prices) if order_type.needs_limit_price else None
    stop = draw(prices) if order_type.needs_stop_price else None
    status = draw(st.sampled_from([OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED]))
    qty = Decimal(draw(st.integers(2, 12)))
    filled = Decimal(1) if status is OrderStatus.PARTIALLY_FILLED else Decimal(0)
    side = draw(st.sampled_from(list(Side)))
    tif = draw(st.sampled_from(list(TimeInForce)))
    extra: dict[str, Any] = {}
    if order_type.is_trailing:
        # A trailing stop with its mark somewhere around the quotes, by a price or a percent.
        tif = draw(st.sampled_from([TimeInForce.DAY, TimeInForce.GTC]))
        hwm = Decimal(draw(prices))
        trail = draw(st.sampled_from([("0.5", None), ("1.5", None), (None, "1"), (None, "2.5")]))
        trail_price, trail_percent = (None if t is None else Decimal(t) for t in trail)
        extra = {
            "hwm": hwm,
            "trail_price": trail_price,
            "trail_percent": trail_percent,
        }
        stop = str(trailing.stop_price(side, hwm, trail_price, trail_percent))
    elif order_type is OrderType.MARKET and status is OrderStatus.NEW and draw(st.booleans()):
        # A notional order not sized yet.
        tif = TimeInForce.DAY
        extra = {"notional": Decimal(draw(st.sampled_from(["150", "1000", "50"])))}
    triggered = draw(st.booleans()) and stop is not None
    order = working_order(
        side=side,
        order_type=order_type,
        qty=qty,
        limit=limit,
        stop=stop,
        tif=tif,
        age=draw(st.integers(0, 100)),
        status=status,
        filled_qty=filled,
        filled_notional=filled * Decimal(100),
        stop_triggered_at=T0 if triggered else None,
        account=draw(st.sampled_from(["acct-1", "acct-2"])),
        **extra,
    )
    return dataclasses.replace(order, qty=None) if order.notional is not None else order


@st.composite
def quotes(draw: st.DrawFn) -> Quote:
    bid = Decimal(draw(prices))
    spread = Decimal(draw(st.sampled_from(["0", "0.5", "1"])))
    return quote(
        7,
        bid=str(bid),
        ask=str(bid + spread),
        bid_size=str(draw(st.integers(0, 30))),
        ask_size=str(draw(st.integers(0, 30))),
    )


def store_candidates(working: list[Order], quote_: Quote) -> list[Order]:
    """What the store loads: pending stops the quote crosses and resting ioc/fok orders, all of
    them; resting day/gtc orders that can trade, per side in priority, until their remainders
    cover the side's size."""
    candidates = [order for order in working if can_execute(order, quote_)]
    chosen = [
        order
        for order in candidates
        if order.stop_pending or order.time_in_force in (TimeInForce.IOC, TimeInForce.FOK)
    ]
    for side, size in ((Side.BUY, quote_.ask_size), (Side.SELL, quote_.bid_size)):
        loaded: list[Order] = []
        resting = sorted(
            (
                order
                for order in candidates
                if order.side is side
                and not order.stop_pending
                and order.time_in_force in (TimeInForce.DAY, TimeInForce.GTC)
            ),
            key=price_time_priority,
        )
        for order in resting:
            if liquidity_covered(loaded, size):
                break
            loaded.append(order)
        chosen += loaded
    return chosen


@settings(max_examples=400, deadline=None)
@given(working=st.lists(orders(), max_size=14), quote_=quotes())
def test_matching_the_candidates_gives_the_match_of_every_working_order(
    working: list[Order], quote_: Quote
) -> None:
    everything = match_quote(empty_book(), quote_, working, NOW)
    candidates = match_quote(empty_book(), quote_, store_candidates(working, quote_), NOW)

    assert candidates == everything


# --- execution on arrival ---


def book(
    *, age_s: float = 0.5, ask_available: str = "100", bid_available: str = "100"
) -> SymbolBook:
    return SymbolBook(
        SYMBOL,
        last_sequence=41,
        bid_price=Decimal("100"),
        bid_size=Decimal("100"),
        ask_price=Decimal("100.5"),
        ask_size=Decimal("100"),
        quoted_at=NOW - timedelta(seconds=age_s),
        bid_available=Decimal(bid_available),
        ask_available=Decimal(ask_available),
    )


def test_a_market_order_fills_on_arrival_against_a_fresh_quote() -> None:
    order = working_order(qty="10")

    match = execute_on_arrival(order, book(), NOW, max_quote_age=FRESH)

    assert match is not None
    (change,) = match.changes
    assert change.execution is not None
    assert (change.execution.qty, change.execution.price) == (Decimal(10), Decimal("100.5"))
    assert change.execution.quote_sequence == 41
    assert change.order.status is OrderStatus.FILLED
    assert match.book.ask_available == Decimal(90), "what it took is gone for later arrivals"
    assert match.book.bid_available == Decimal(100)


def test_an_arrival_takes_only_what_the_quote_still_offers() -> None:
    order = working_order(qty="10")

    match = execute_on_arrival(order, book(ask_available="4"), NOW, max_quote_age=FRESH)

    assert match is not None
    (change,) = match.changes
    assert change.order.status is OrderStatus.PARTIALLY_FILLED
    assert change.order.filled_qty == Decimal(4)
    assert match.book.ask_available == 0


def test_nothing_happens_on_arrival_when_the_latest_quote_is_stale_or_missing() -> None:
    order = working_order()

    assert execute_on_arrival(order, book(age_s=2.5), NOW, max_quote_age=FRESH) is None
    assert execute_on_arrival(order, empty_book(), NOW, max_quote_age=FRESH) is None


def test_a_limit_order_that_cannot_trade_rests_and_leaves_the_book_as_it_was() -> None:
    order = working_order(order_type=OrderType.LIMIT, limit="100", qty="5")

    match = execute_on_arrival(order, book(), NOW, max_quote_age=FRESH)

    assert match is not None
    assert match.changes == ()
    assert match.book == book()


def test_a_stop_the_latest_quote_already_crosses_triggers_and_fills_on_arrival() -> None:
    order = working_order(side=Side.SELL, order_type=OrderType.STOP, stop="100.2", qty="3")

    match = execute_on_arrival(order, book(), NOW, max_quote_age=FRESH)

    assert match is not None
    (change,) = match.changes
    assert change.order.stop_triggered_at == NOW
    assert change.order.status is OrderStatus.FILLED
    assert change.execution is not None
    assert change.execution.price == Decimal("100")


def test_ioc_and_fok_are_decided_on_arrival() -> None:
    ioc = working_order(qty="10", tif=TimeInForce.IOC)
    fok = working_order(qty="10", tif=TimeInForce.FOK)
    out_of_limit_ioc = working_order(order_type=OrderType.LIMIT, limit="99", tif=TimeInForce.IOC)

    ioc_match = execute_on_arrival(ioc, book(ask_available="4"), NOW, max_quote_age=FRESH)
    fok_match = execute_on_arrival(fok, book(ask_available="4"), NOW, max_quote_age=FRESH)
    limit_match = execute_on_arrival(out_of_limit_ioc, book(), NOW, max_quote_age=FRESH)

    assert ioc_match is not None
    assert fok_match is not None
    assert limit_match is not None
    (ioc_change,) = ioc_match.changes
    assert ioc_change.order.status is OrderStatus.CANCELED
    assert ioc_change.order.filled_qty == Decimal(4)
    (fok_change,) = fok_match.changes
    assert fok_change.order.status is OrderStatus.CANCELED
    assert fok_change.execution is None
    assert fok_match.book.ask_available == Decimal(4), "a fok that cannot fill takes nothing"
    (limit_change,) = limit_match.changes
    assert limit_change.order.status is OrderStatus.CANCELED
    assert limit_change.order.filled_qty == 0
