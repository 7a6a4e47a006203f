"""Bracket and oco orders through the real handlers and database: legs held until the entry
fills, one exit's fill canceling the other in the same transaction, and two quotes racing for
the two exits of one bracket, 30 times, with exactly one exit filled every time."""

from __future__ import annotations

from collections import Counter
from datetime import time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from integration.orders.flows import (
    Desk,
    delivery_of,
    event_types,
    events_about,
    executions_of,
    new_account,
    position_of,
)
from integration.orders.test_orders_races import race
from tradewind.common.broker import Topology
from tradewind.common.contracts import LegRole, StopLoss, TakeProfit, leg_order_id
from tradewind.common.contracts.types import OrderClass, OrderStatus, TimeInForce, utc_now
from tradewind.common.market_calendar import MarketCalendar
from tradewind.orders.adapters import OrderReads
from tradewind.orders.domain import Order
from tradewind.orders.handlers import DayOrderExpiry, QuoteHandler

ROUNDS = 30
CALENDAR = MarketCalendar(zone=ZoneInfo("America/New_York"), opens=time(9, 30), closes=time(16))
STALE_S = 60
"""Quotes dated in the past: a later round's entry rests instead of trading on arrival."""


async def place_bracket(desk: Desk, account: str, **overrides: Any) -> tuple[UUID, UUID, UUID]:
    fields: dict[str, Any] = {
        "qty": Decimal("10"),
        "limit_price": Decimal("100"),
        "order_class": OrderClass.BRACKET,
        "take_profit": TakeProfit(limit_price=Decimal("110")),
        "stop_loss": StopLoss(stop_price=Decimal("95")),
    }
    fields.update(overrides)
    entry = await desk.place(account, **fields)
    return (
        entry,
        leg_order_id(entry, LegRole.TAKE_PROFIT),
        leg_order_id(entry, LegRole.STOP_LOSS),
    )


async def statuses(desk: Desk, account: str, *order_ids: UUID) -> list[OrderStatus]:
    return [(await desk.order(account, order_id)).status for order_id in order_ids]


async def test_bracket_legs_are_held_until_the_entry_fills_then_work_for_its_quantity(
    desk: Desk,
) -> None:
    account = new_account()
    entry, take_profit, stop_loss = await place_bracket(desk, account)
    assert await statuses(desk, account, entry, take_profit, stop_loss) == [
        OrderStatus.NEW,
        OrderStatus.HELD,
        OrderStatus.HELD,
    ]
    await desk.quote(bid="110", ask="110.5", age_s=STALE_S)  # would fill a working take-profit
    assert await executions_of(desk.pool, take_profit) == []

    await desk.quote(bid="99", ask="99.5", age_s=STALE_S)

    assert await statuses(desk, account, entry, take_profit, stop_loss) == [
        OrderStatus.FILLED,
        OrderStatus.NEW,
        OrderStatus.NEW,
    ]
    assert await event_types(desk.pool, take_profit) == ["order.accepted", "order.accepted"]
    legs = await OrderReads(desk.pool).legs_of(account, [await desk.order(account, entry)])
    assert [leg.id for leg in legs[entry]] == [take_profit, stop_loss]


async def test_a_take_profit_fill_cancels_the_stop_loss_in_the_same_transaction(
    desk: Desk,
) -> None:
    account = new_account()
    _, take_profit, stop_loss = await place_bracket(desk, account)
    await desk.quote(bid="99", ask="99.5", age_s=STALE_S)

    fill = await desk.quote(bid="110", ask="110.5", age_s=STALE_S)

    assert await statuses(desk, account, take_profit, stop_loss) == [
        OrderStatus.FILLED,
        OrderStatus.CANCELED,
    ]
    stop_events = await event_types(desk.pool, stop_loss)
    assert stop_events == ["order.accepted", "order.accepted", "order.canceled"]
    # One transaction: the cancel was caused by the very quote that filled the take-profit.
    canceled = [e for e in await events_about(desk.pool, stop_loss) if e.type == "order.canceled"]
    assert [event.causationid for event in canceled] == [fill.id]
    position = await position_of(desk.pool, account, desk.symbol)
    assert position is not None
    assert position.qty == 0


async def test_a_trailing_stop_loss_trails_from_the_entry_fill_and_cancels_the_take_profit(
    desk: Desk,
) -> None:
    account = new_account()
    _, take_profit, stop_loss = await place_bracket(
        desk, account, stop_loss=StopLoss(trail_price=Decimal("2"))
    )
    await desk.quote(bid="99", ask="99.5", age_s=STALE_S)  # the entry buys at 99.5

    started = await desk.order(account, stop_loss)
    assert (started.status, started.hwm, started.stop_price) == (
        OrderStatus.NEW,
        Decimal("99.5"),
        Decimal("97.5"),
    )
    await desk.quote(bid="104", ask="104.5", age_s=STALE_S)  # a new high moves it up
    raised = await desk.order(account, stop_loss)
    assert (raised.hwm, raised.stop_price) == (Decimal("104"), Decimal("102"))

    await desk.quote(bid="101.5", ask="102", age_s=STALE_S)  # through the stop

    assert await statuses(desk, account, take_profit, stop_loss) == [
        OrderStatus.CANCELED,
        OrderStatus.FILLED,
    ]
    position = await position_of(desk.pool, account, desk.symbol)
    assert position is not None
    assert position.qty == 0


async def test_canceling_an_unfilled_entry_cancels_its_held_legs(desk: Desk) -> None:
    account = new_account()
    entry, take_profit, stop_loss = await place_bracket(desk, account)

    await desk.cancel(account, entry)

    assert (
        await statuses(desk, account, entry, take_profit, stop_loss) == [OrderStatus.CANCELED] * 3
    )


async def test_an_oco_fill_reduces_the_other_exit(desk: Desk) -> None:
    account = new_account()
    parent = await desk.place(
        account,
        side="sell",
        qty=Decimal("10"),
        limit_price=Decimal("110"),
        order_class=OrderClass.OCO,
        stop_loss=StopLoss(stop_price=Decimal("95")),
    )
    stop_loss = leg_order_id(parent, LegRole.STOP_LOSS)

    await desk.quote(bid="110", ask="110.5", bid_size="4", age_s=STALE_S)

    reduced = await desk.order(account, stop_loss)
    assert (reduced.status, reduced.qty) == (OrderStatus.NEW, Decimal(6))


def exit_fills(orders: list[Order]) -> list[Decimal]:
    return [order.filled_qty for order in orders if order.filled_qty]


async def test_two_quotes_racing_for_the_two_exits_fill_exactly_one(
    desk: Desk, orders_topology: Topology
) -> None:
    # A second handler, as in a second process: one handler queues a symbol's quotes in memory.
    other_process = QuoteHandler(pool=desk.pool, topology=orders_topology)
    winners: Counter[str] = Counter()
    for round_number in range(ROUNDS):
        account = new_account()
        _, take_profit, stop_loss = await place_bracket(desk, account)
        await desk.quote(bid="99", ask="99.5", age_s=STALE_S)  # the entry fills: exits work
        # Each quote fills one exit; which is older alternates (and race() alternates which
        # starts first), so that each can be processed second.
        if round_number % 4 < 2:
            profit_quote = desk.next_quote(bid="111", ask="111.5", age_s=STALE_S)
            loss_quote = desk.next_quote(bid="94", ask="94.5", age_s=STALE_S)
        else:
            loss_quote = desk.next_quote(bid="94", ask="94.5", age_s=STALE_S)
            profit_quote = desk.next_quote(bid="111", ask="111.5", age_s=STALE_S)

        await race(
            desk.pool,
            take_profit,
            desk.quotes.handle(profit_quote, delivery_of(profit_quote)),
            other_process.handle(loss_quote, delivery_of(loss_quote)),
            round_number,
        )

        exits = [await desk.order(account, order_id) for order_id in (take_profit, stop_loss)]
        assert exit_fills(exits) == [Decimal(10)], exits
        assert sorted(order.status for order in exits) == [
            OrderStatus.CANCELED,
            OrderStatus.FILLED,
        ]
        for order in exits:
            assert sum(e.qty for e in await executions_of(desk.pool, order.id)) == order.filled_qty
        position = await position_of(desk.pool, account, desk.symbol)
        assert position is not None
        assert position.qty == 0
        winners["take_profit" if exits[0].filled_qty else "stop_loss"] += 1
    assert set(winners) == {"take_profit", "stop_loss"}, winners


async def test_one_quote_reaching_both_exits_fills_one_every_time(desk: Desk) -> None:
    for _ in range(3):
        account = new_account()
        _, take_profit, stop_loss = await place_bracket(
            desk, account, stop_loss=StopLoss(stop_price=Decimal("95"), limit_price=Decimal("94"))
        )
        await desk.quote(bid="99", ask="99.5", age_s=STALE_S)
        await desk.quote(bid="93", ask="93.5", age_s=STALE_S)  # triggers the stop-loss only

        await desk.quote(bid="111", ask="111.5", age_s=STALE_S)  # reaches both sells

        exits = [await desk.order(account, order_id) for order_id in (take_profit, stop_loss)]
        assert [order.status for order in exits] == [OrderStatus.CANCELED, OrderStatus.FILLED]


async def test_a_day_entry_expiring_after_a_partial_fill_activates_its_legs_for_it(
    desk: Desk, orders_topology: Topology
) -> None:
    account = new_account()
    entry, take_profit, stop_loss = await place_bracket(
        desk, account, time_in_force=TimeInForce.DAY
    )
    await desk.quote(bid="99", ask="99.5", ask_size="4", age_s=STALE_S)
    # A week on, the entry's session has ended.
    sweep = DayOrderExpiry(
        pool=desk.pool,
        topology=orders_topology,
        calendar=MarketCalendar(
            zone=ZoneInfo("America/New_York"), opens=time(9, 30), closes=time(16)
        ),
        clock=lambda: utc_now() + timedelta(days=7),
    )

    await sweep.expire_due()

    assert await statuses(desk, account, entry, take_profit, stop_loss) == [
        OrderStatus.EXPIRED,
        OrderStatus.NEW,
        OrderStatus.NEW,
    ]
    assert (await desk.order(account, stop_loss)).qty == Decimal(4)
