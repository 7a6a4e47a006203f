"""Trailing stops and notional orders through the real handlers and database."""

from __future__ import annotations

from decimal import Decimal

from integration.orders.flows import Desk, events_about, executions_of, new_account
from tradewind.common.contracts.types import OrderStatus, OrderType, Side, TimeInForce


async def test_a_trailing_stops_mark_follows_the_bids_and_it_fills_once_crossed(
    desk: Desk,
) -> None:
    account = new_account()
    await desk.quote(bid="100", ask="100.1", age_s=5)
    order_id = await desk.place(
        account,
        side=Side.SELL,
        type=OrderType.TRAILING_STOP,
        qty=Decimal(5),
        limit_price=None,
        trail_price=Decimal("1.50"),
    )
    accepted = await desk.order(account, order_id)

    await desk.quote(bid="101", ask="101.1")
    await desk.quote(bid="102.5", ask="102.6")
    raised = await desk.order(account, order_id)
    await desk.quote(bid="101.2", ask="101.3")
    held = await desk.order(account, order_id)
    await desk.quote(bid="100.9", ask="101", bid_size="100")

    assert (accepted.status, accepted.hwm, accepted.stop_price) == (
        OrderStatus.NEW,
        Decimal(100),
        Decimal("98.5"),
    )
    assert (raised.hwm, raised.stop_price) == (Decimal("102.5"), Decimal(101))
    assert raised.version == accepted.version + 2, "each higher bid is a change of the order"
    assert (held.hwm, held.stop_price, held.version) == (
        Decimal("102.5"),
        Decimal(101),
        raised.version,
    ), "a lower bid above the stop changes nothing"
    order = await desk.order(account, order_id)
    assert order.status is OrderStatus.FILLED
    assert order.stop_triggered_at is not None
    (execution,) = await executions_of(desk.pool, order_id)
    assert (execution.qty, execution.price) == (Decimal(5), Decimal("100.9"))
    events = await events_about(desk.pool, order_id)
    assert [event.type for event in events] == ["order.accepted", "order.filled"]
    assert events[0].data["order"]["trail_price"] == "1.50"
    assert events[0].data["order"]["hwm"] == "100"
    assert events[1].data["order"]["hwm"] == "102.5"
    assert events[1].data["order"]["stop_price"] == "101.00"


async def test_a_buy_trailing_stop_by_percent_follows_the_asks_down_and_a_new_trail_moves_it(
    desk: Desk,
) -> None:
    account = new_account()
    await desk.quote(bid="49.9", ask="50", age_s=5)
    order_id = await desk.place(
        account,
        side=Side.BUY,
        type=OrderType.TRAILING_STOP,
        qty=Decimal(2),
        limit_price=None,
        trail_percent=Decimal(2),
        time_in_force=TimeInForce.DAY,
    )
    await desk.quote(bid="47.9", ask="48")
    lowered = await desk.order(account, order_id)
    await desk.replace(account, order_id, trail_percent=None, trail_price=Decimal("0.25"))
    replacement_id = (await desk.order(account, order_id)).replaced_by
    assert replacement_id is not None
    replacement = await desk.order(account, replacement_id)
    await desk.quote(bid="48.2", ask="48.25")

    assert (lowered.hwm, lowered.stop_price) == (Decimal(48), Decimal("48.96"))
    assert (replacement.hwm, replacement.stop_price) == (Decimal(48), Decimal("48.25"))
    filled = await desk.order(account, replacement_id)
    assert filled.status is OrderStatus.FILLED
    assert filled.filled_avg_price == Decimal("48.25")


async def test_a_notional_buy_fills_a_fractional_qty_rounded_down_to_the_lot(desk: Desk) -> None:
    account = new_account()
    await desk.quote(bid="189.9", ask="190", age_s=5)  # too old to trade on: it waits
    order_id = await desk.place(
        account,
        type=OrderType.MARKET,
        qty=None,
        limit_price=None,
        notional=Decimal(500),
        time_in_force=TimeInForce.DAY,
    )
    waiting = await desk.order(account, order_id)
    await desk.quote(bid="190.3", ask="190.37")

    assert (waiting.status, waiting.qty, waiting.notional) == (
        OrderStatus.NEW,
        None,
        Decimal(500),
    )
    order = await desk.order(account, order_id)
    assert order.status is OrderStatus.FILLED
    assert order.qty == order.filled_qty == Decimal("2.626")  # 500 / 190.37 = 2.6264...
    (execution,) = await executions_of(desk.pool, order_id)
    assert (execution.qty, execution.price) == (Decimal("2.626"), Decimal("190.37"))
    accepted, filled = await events_about(desk.pool, order_id)
    assert accepted.data["order"]["qty"] is None
    assert filled.data["order"]["notional"] == "500"
    assert filled.data["qty"] == "2.626"


async def test_a_notional_below_one_lot_is_rejected_with_the_reason(desk: Desk) -> None:
    account = new_account()
    await desk.quote(bid="190.3", ask="190.37", age_s=5)
    order_id = await desk.place(
        account,
        type=OrderType.MARKET,
        qty=None,
        limit_price=None,
        notional=Decimal("0.1"),
        time_in_force=TimeInForce.DAY,
    )

    order = await desk.order(account, order_id)
    assert order.status is OrderStatus.REJECTED
    (rejected,) = await events_about(desk.pool, order_id)
    assert rejected.data["reason"] == "invalid_order"
    assert rejected.data["message"] == "notional 0.1 buys less than one lot (0.001) at 190.37"
