"""Bracket, oco and oto orders: placing a group, held legs activated by their entry, one exit
cancelling (or reducing) the others, cancels, and recorded quote sequences replayed through the
pure matching code as the quote handler runs it."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest

from tradewind.common.contracts import (
    Contract,
    LegRole,
    OrderAccepted,
    OrderCanceled,
    OrderRejected,
    PlaceOrder,
    StopLoss,
    TakeProfit,
    leg_order_id,
)
from tradewind.common.contracts.order_classes import place_violation
from tradewind.common.contracts.types import (
    OrderClass,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from tradewind.orders.domain import MarketView, Order, RiskRules, SymbolBook, expire
from tradewind.orders.domain.order_classes import (
    OrderGroup,
    cancel_in_group,
    follow,
    groups_of,
    match_quote_in_groups,
    place_group,
)
from unit.orders.builders import SYMBOL, T0, quote

RULES = RiskRules(reference_prices={SYMBOL: Decimal("100")}, max_notional=Decimal("1000000"))
LISTED = MarketView(listed=True, tick_size=Decimal("0.01"), lot_size=Decimal("1"))


def command(
    order_class: OrderClass,
    *,
    side: Side = Side.BUY,
    order_type: OrderType = OrderType.LIMIT,
    limit: str | None = "100",
    take_profit: str | None = None,
    stop: str | None = None,
    stop_limit: str | None = None,
    qty: str = "10",
    tif: TimeInForce = TimeInForce.GTC,
) -> PlaceOrder:
    return PlaceOrder(
        order_id=uuid4(),
        account_id="acct-1",
        symbol=SYMBOL,
        side=side,
        type=order_type,
        qty=Decimal(qty),
        limit_price=None if limit is None else Decimal(limit),
        time_in_force=tif,
        submitted_at=T0,
        order_class=order_class,
        take_profit=None if take_profit is None else TakeProfit(limit_price=Decimal(take_profit)),
        stop_loss=None
        if stop is None
        else StopLoss(
            stop_price=Decimal(stop),
            limit_price=None if stop_limit is None else Decimal(stop_limit),
        ),
    )


def placed(cmd: PlaceOrder) -> tuple[Order, ...]:
    return place_group(cmd, RULES, LISTED, client_order_id_in_use=False, now=T0).orders


@dataclass
class Market:
    """The quote handler in memory: every quote is matched against the working orders with the
    groups guard, then each group settles what its orders did (``follow``)."""

    orders: dict[UUID, Order]
    book: SymbolBook = field(default_factory=lambda: SymbolBook(SYMBOL))
    events: list[Contract] = field(default_factory=list)

    @classmethod
    def of(cls, *orders: Order) -> Market:
        return cls({order.id: order for order in orders})

    def quote(self, sequence: int, **prices: str) -> None:
        now = T0 + timedelta(seconds=sequence)
        groups = groups_of(self.orders.values())
        match = match_quote_in_groups(
            self.book, quote(sequence, **prices), list(self.orders.values()), groups, now
        )
        self.book = match.book
        for change in match.changes:
            self.orders[change.order.id] = change.order
        self.settle(groups, now)

    def settle(self, groups: dict[UUID, OrderGroup], now: Any) -> None:
        for before in groups.values():
            after = groups_of(self.orders.values())[before.id]
            for change in follow(before, after, now):
                self.orders[change.order.id] = change.order
                if change.event is not None:
                    self.events.append(change.event)

    def __getitem__(self, order_id: UUID) -> Order:
        return self.orders[order_id]

    def state(self, order_id: UUID) -> tuple[str, str, str]:
        order = self.orders[order_id]
        return order.status.value, format(order.qty, "f"), format(order.filled_qty, "f")


# --- placing ---


def test_a_bracket_places_its_entry_with_two_held_exits_named_after_it() -> None:
    cmd = command(OrderClass.BRACKET, take_profit="110", stop="95")
    entry, take_profit, stop_loss = placed(cmd)
    assert (entry.status, entry.order_class) == (OrderStatus.NEW, OrderClass.BRACKET)
    assert take_profit.id == leg_order_id(entry.id, LegRole.TAKE_PROFIT)
    assert stop_loss.id == leg_order_id(entry.id, LegRole.STOP_LOSS)
    for leg in (take_profit, stop_loss):
        assert leg.status is OrderStatus.HELD
        assert (leg.side, leg.qty, leg.parent_id) == (Side.SELL, Decimal(10), entry.id)
        assert leg.order_class is OrderClass.BRACKET
    assert (take_profit.type, take_profit.limit_price) == (OrderType.LIMIT, Decimal(110))
    assert (stop_loss.type, stop_loss.stop_price) == (OrderType.STOP, Decimal(95))


def test_a_stop_loss_with_a_limit_price_is_a_stop_limit_leg() -> None:
    cmd = command(OrderClass.OTO, side=Side.SELL, stop="105", stop_limit="106")
    _, stop_loss = placed(cmd)
    assert (stop_loss.type, stop_loss.side) == (OrderType.STOP_LIMIT, Side.BUY)
    assert (stop_loss.stop_price, stop_loss.limit_price) == (Decimal(105), Decimal(106))


def test_an_oco_is_a_working_take_profit_with_a_working_stop_loss_on_the_same_side() -> None:
    parent, stop_loss = placed(command(OrderClass.OCO, side=Side.SELL, limit="110", stop="95"))
    assert (parent.status, stop_loss.status) == (OrderStatus.NEW, OrderStatus.NEW)
    assert (stop_loss.side, stop_loss.parent_id) == (Side.SELL, parent.id)


def test_a_group_breaking_its_class_rules_is_rejected_whole() -> None:
    result = place_group(
        command(OrderClass.BRACKET, take_profit="99", stop="95"),
        RULES,
        LISTED,
        client_order_id_in_use=False,
        now=T0,
    )
    assert [order.status for order in result.orders] == [OrderStatus.REJECTED] * 3
    first = result.events[0]
    assert isinstance(first, OrderRejected)
    assert first.message.startswith("take_profit.limit_price must be above the entry's")


def test_a_leg_off_the_tick_size_rejects_the_group() -> None:
    result = place_group(
        command(OrderClass.BRACKET, take_profit="110.001", stop="95"),
        RULES,
        LISTED,
        client_order_id_in_use=False,
        now=T0,
    )
    assert {order.reject_reason for order in result.orders} == {"invalid_order"}
    assert "take_profit leg: limit_price 110.001" in getattr(result.events[0], "message", "")


def test_an_accepted_group_announces_each_order() -> None:
    result = place_group(
        command(OrderClass.OTO, take_profit="110"),
        RULES,
        LISTED,
        client_order_id_in_use=False,
        now=T0,
    )
    assert [type(event) for event in result.events] == [OrderAccepted, OrderAccepted]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"order_class": OrderClass.SIMPLE, "take_profit": "110"}, "take_profit"),
        ({"order_class": OrderClass.BRACKET, "take_profit": "110"}, "stop_loss"),
        ({"order_class": OrderClass.OTO}, "take_profit"),
        ({"order_class": OrderClass.OTO, "take_profit": "110", "stop": "95"}, "take_profit"),
        ({"order_class": OrderClass.OCO, "take_profit": "110"}, "stop_loss"),
        (
            {"order_class": OrderClass.BRACKET, "take_profit": "110", "stop": "101"},
            "stop_loss.stop_price",
        ),
        (
            {"order_class": OrderClass.BRACKET, "take_profit": "110", "stop": "95", "tif": "ioc"},
            "time_in_force",
        ),
        (
            {
                "order_class": OrderClass.BRACKET,
                "take_profit": "110",
                "stop": "95",
                "stop_limit": "96",
            },
            "stop_loss.limit_price",
        ),
        (
            {"order_class": OrderClass.OCO, "limit": "90", "stop": "95", "side": Side.SELL},
            "limit_price",
        ),
        (
            {"order_class": OrderClass.OCO, "limit": "110", "take_profit": "111", "stop": "95"},
            "take_profit.limit_price",
        ),
    ],
)
def test_each_class_rule_names_the_field_it_refuses(kwargs: dict[str, Any], field: str) -> None:
    cmd = command(
        kwargs.pop("order_class"),
        tif=TimeInForce(kwargs.pop("tif", "gtc")),
        side=kwargs.pop("side", Side.BUY),
        **kwargs,
    )
    violation = place_violation(cmd)
    assert violation is not None
    assert violation[0] == field, violation


def test_a_market_bracket_only_checks_its_exits_against_each_other() -> None:
    cmd = command(
        OrderClass.BRACKET, order_type=OrderType.MARKET, limit=None, take_profit="1", stop="0.5"
    )
    assert all(order.status is not OrderStatus.REJECTED for order in placed(cmd))


# --- recorded quote sequences ---


def test_a_bracket_entry_activates_its_legs_when_done_and_the_exits_share_one_quantity() -> None:
    entry, take_profit, stop_loss = placed(
        command(OrderClass.BRACKET, take_profit="110", stop="95")
    )
    market = Market.of(entry, take_profit, stop_loss)
    market.quote(1, bid="100.5", ask="101")  # above the entry's limit: nothing
    market.quote(2, bid="99.5", ask="100", ask_size="4")  # 4 of 10: the legs stay held
    assert market.state(entry.id) == ("partially_filled", "10", "4")
    assert market.state(take_profit.id) == ("held", "10", "0")
    market.quote(3, bid="99", ask="99.5")  # the rest: both exits work for the 10 filled
    assert market.state(take_profit.id) == ("new", "10", "0")
    assert market.state(stop_loss.id) == ("new", "10", "0")
    market.quote(4, bid="105", ask="105.5")  # between the exits: nothing
    market.quote(5, bid="110", ask="110.5", bid_size="3")  # take-profit 3: stop-loss now 7
    assert market.state(take_profit.id) == ("partially_filled", "10", "3")
    assert market.state(stop_loss.id) == ("new", "7", "0")
    market.quote(6, bid="94", ask="94.5")  # the stop-loss sells the 7 left; take-profit canceled
    assert market.state(stop_loss.id) == ("filled", "7", "7")
    assert market.state(take_profit.id) == ("canceled", "10", "3")
    filled_exits = market[take_profit.id].filled_qty + market[stop_loss.id].filled_qty
    assert filled_exits == market[entry.id].filled_qty


def test_a_quote_that_reaches_both_exits_fills_only_the_first_in_priority() -> None:
    # A stop-limit stop-loss triggered by a drop it could not fill at (bid under its limit),
    # then a jump past the take-profit: one quote now reaches both sells.
    entry, take_profit, stop_loss = placed(
        command(OrderClass.BRACKET, take_profit="110", stop="95", stop_limit="94")
    )
    market = Market.of(entry, take_profit, stop_loss)
    market.quote(1, bid="99.5", ask="100")
    market.quote(2, bid="93", ask="93.5")  # triggers the stop-loss; 93 < its limit 94
    assert market[stop_loss.id].stop_triggered_at is not None
    assert market.state(stop_loss.id) == ("new", "10", "0")
    market.quote(3, bid="111", ask="111.5")  # both reachable: the lower sell limit (94) first
    assert market.state(stop_loss.id) == ("filled", "10", "10")
    assert market.state(take_profit.id) == ("canceled", "10", "0")
    canceled = [e for e in market.events if isinstance(e, OrderCanceled)]
    assert [event.order.id for event in canceled] == [take_profit.id]


def test_the_exit_left_out_of_a_quote_does_not_take_its_size_from_others() -> None:
    entry, take_profit, stop_loss = placed(
        command(OrderClass.BRACKET, take_profit="110", stop="95", stop_limit="94")
    )
    other_seller = place_group(
        command(OrderClass.SIMPLE, side=Side.SELL, limit="111", qty="5"),
        RULES,
        LISTED,
        client_order_id_in_use=False,
        now=T0,
    ).orders[0]
    market = Market.of(entry, take_profit, stop_loss, other_seller)
    market.quote(1, bid="99.5", ask="100")
    market.quote(2, bid="93", ask="93.5")
    market.quote(3, bid="112", ask="112.5", bid_size="12")  # 10 to the stop-loss, 2 left
    assert market.state(stop_loss.id) == ("filled", "10", "10")
    assert market.state(other_seller.id) == ("partially_filled", "5", "2")
    assert market.state(take_profit.id) == ("canceled", "10", "0")


def test_an_oco_fill_reduces_the_other_exit_and_its_last_fill_cancels_it() -> None:
    parent, stop_loss = placed(command(OrderClass.OCO, side=Side.SELL, limit="110", stop="95"))
    market = Market.of(parent, stop_loss)
    market.quote(1, bid="111", ask="111.5", bid_size="4")
    assert market.state(parent.id) == ("partially_filled", "10", "4")
    assert market.state(stop_loss.id) == ("new", "6", "0")
    market.quote(2, bid="94", ask="94.5")
    assert market.state(stop_loss.id) == ("filled", "6", "6")
    assert market.state(parent.id) == ("canceled", "10", "4")


def test_an_oto_take_profit_works_once_the_entry_fills() -> None:
    entry, take_profit = placed(command(OrderClass.OTO, take_profit="110"))
    market = Market.of(entry, take_profit)
    market.quote(1, bid="110", ask="110.5")  # the leg is held: no sell at 110 yet
    assert market.state(take_profit.id) == ("held", "10", "0")
    market.quote(2, bid="99.5", ask="100")
    market.quote(3, bid="110", ask="110.5")
    assert market.state(take_profit.id) == ("filled", "10", "10")


# --- cancels and the session end ---


def test_canceling_an_entry_that_filled_nothing_cancels_its_held_legs() -> None:
    orders = placed(command(OrderClass.BRACKET, take_profit="110", stop="95"))
    group = groups_of(orders)[orders[0].id]
    outcome, followers = cancel_in_group(group, orders[0].id, T0)
    assert outcome.order.status is OrderStatus.CANCELED
    assert [(c.order.status, type(c.event)) for c in followers] == [
        (OrderStatus.CANCELED, OrderCanceled)
    ] * 2


def test_canceling_a_partly_filled_entry_activates_its_legs_for_what_it_filled() -> None:
    entry, take_profit, stop_loss = placed(
        command(OrderClass.BRACKET, take_profit="110", stop="95")
    )
    market = Market.of(entry, take_profit, stop_loss)
    market.quote(1, bid="99.5", ask="100", ask_size="4")
    group = groups_of(market.orders.values())[entry.id]
    _, followers = cancel_in_group(group, entry.id, T0 + timedelta(seconds=2))
    assert [(c.order.status, c.order.qty) for c in followers] == [(OrderStatus.NEW, Decimal(4))] * 2
    assert all(isinstance(c.event, OrderAccepted) for c in followers)


def test_canceling_an_exit_cancels_the_rest_of_its_group() -> None:
    parent, stop_loss = placed(command(OrderClass.OCO, side=Side.SELL, limit="110", stop="95"))
    group = groups_of([parent, stop_loss])[parent.id]
    outcome, followers = cancel_in_group(group, stop_loss.id, T0)
    assert outcome.order.status is OrderStatus.CANCELED
    assert [c.order.id for c in followers] == [parent.id]
    assert followers[0].order.status is OrderStatus.CANCELED


def test_canceling_a_held_leg_cancels_its_entry_too() -> None:
    orders = placed(command(OrderClass.BRACKET, take_profit="110", stop="95"))
    group = groups_of(orders)[orders[0].id]
    _, followers = cancel_in_group(group, orders[2].id, T0)
    assert {c.order.id for c in followers} == {orders[0].id, orders[1].id}


def test_an_entry_expiring_after_a_partial_fill_activates_its_legs() -> None:
    entry, take_profit, stop_loss = placed(
        command(OrderClass.BRACKET, take_profit="110", stop="95", tif=TimeInForce.DAY)
    )
    market = Market.of(entry, take_profit, stop_loss)
    market.quote(1, bid="99.5", ask="100", ask_size="3")
    before = groups_of(market.orders.values())[entry.id]
    expired = expire(market[entry.id], T0 + timedelta(hours=7))
    changes = follow(before, before.with_order(expired.order), T0 + timedelta(hours=7))
    assert [(c.order.status, c.order.qty) for c in changes] == [(OrderStatus.NEW, Decimal(3))] * 2


# --- a recorded session (replay/order_classes_session.json) ---


def test_the_recorded_session_of_three_groups_replays_to_its_hand_worked_result() -> None:
    session = json.loads(
        (Path(__file__).parent / "replay" / "order_classes_session.json").read_text()
    )
    names: dict[UUID, str] = {}
    orders: list[Order] = []
    for spec in session["orders"]:
        order_id = uuid.uuid5(uuid.NAMESPACE_URL, f"replay:{spec['name']}")
        cmd = PlaceOrder.model_validate(
            {
                **{k: v for k, v in spec.items() if k not in {"name", "account"}},
                "order_id": order_id,
                "account_id": spec["account"],
                "symbol": session["symbol"],
                "time_in_force": "gtc",
                "submitted_at": T0.isoformat(),
            }
        )
        group = placed(cmd)
        names[group[0].id] = spec["name"]
        for leg in group[1:]:
            role = LegRole.TAKE_PROFIT if leg.type is OrderType.LIMIT else LegRole.STOP_LOSS
            names[leg.id] = f"{spec['name']}.{role.value}"
        orders += group
    market = Market.of(*orders)
    for sequence, recorded in enumerate(session["quotes"], start=1):
        prices = {k: v for k, v in recorded.items() if k != "why"}
        market.quote(sequence, **{"bid_size": "1000", "ask_size": "1000", **prices})

    def described(order: Order) -> list[str | None]:
        average = order.filled_avg_price
        return [
            order.status.value,
            format(order.qty, "f"),
            format(order.filled_qty, "f"),
            None if average is None else format(average.normalize(), "f"),
        ]

    result = {names[order.id]: described(order) for order in market.orders.values()}
    assert result == session["expected"]
