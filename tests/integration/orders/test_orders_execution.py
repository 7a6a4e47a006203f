"""Quotes executing orders through the real handlers and database: fills, positions, events."""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID

import pytest

from integration.orders.flows import (
    Desk,
    delivery_of,
    event_types,
    events_about,
    executions_of,
    handle_one,
    last_sequence,
    new_account,
    place_command,
    position_of,
    quote_event,
    replace_command,
)
from tradewind.common.contracts.types import OrderStatus, OrderType, Side, TimeInForce
from tradewind.common.envelope import CloudEvent
from tradewind.orders.handlers import OrderNotFound

# --- a resting limit order, then a crossing quote ---


async def test_a_limit_order_rests_then_a_crossing_quote_fills_it(desk: Desk) -> None:
    account = new_account()
    order_id = await desk.place(account, qty=Decimal("10"), limit_price=Decimal("100"))

    await desk.quote(bid="100.2", ask="100.25")
    resting = await desk.order(account, order_id)
    crossing = await desk.quote(bid="99.7", ask="99.75", ask_size="25")

    assert resting.status is OrderStatus.NEW
    order = await desk.order(account, order_id)
    assert order.status is OrderStatus.FILLED
    assert order.filled_qty == Decimal("10")
    assert order.filled_avg_price == Decimal("99.75"), "filled at the ask, better than the limit"
    assert order.filled_at is not None
    (execution,) = await executions_of(desk.pool, order_id)
    assert (execution.qty, execution.price, execution.side) == (
        Decimal(10),
        Decimal("99.75"),
        Side.BUY,
    )
    assert execution.quote_sequence == 2
    position = await position_of(desk.pool, account, desk.symbol)
    assert position is not None
    assert position.qty == Decimal("10")
    assert position.avg_entry_price == Decimal("99.75")
    accepted, filled = await events_about(desk.pool, order_id)
    assert (accepted.type, filled.type) == ("order.accepted", "order.filled")
    assert filled.id == str(execution.id)
    assert filled.causationid == crossing.id
    assert filled.accountid == account
    assert filled.data["execution_id"] == str(execution.id)
    assert filled.data["qty"] == "10"
    assert filled.data["price"] == "99.75"
    assert filled.data["filled_qty"] == "10"
    assert filled.data["filled_avg_price"] == "99.75"
    assert filled.data["position_qty"] == "10"
    assert filled.data["order"]["status"] == "filled"
    assert filled.data["order"]["version"] == order.version


async def test_a_partial_fill_then_the_rest(desk: Desk) -> None:
    account = new_account()
    order_id = await desk.place(
        account, side=Side.SELL, qty=Decimal("10"), limit_price=Decimal("50")
    )

    await desk.quote(bid="50.5", bid_size="4", ask="50.6")
    partial = await desk.order(account, order_id)
    await desk.quote(bid="50", bid_size="100", ask="50.1")

    assert partial.status is OrderStatus.PARTIALLY_FILLED
    assert partial.filled_qty == Decimal("4")
    order = await desk.order(account, order_id)
    assert order.status is OrderStatus.FILLED
    assert order.filled_avg_price == Decimal("50.2")  # (4 x 50.5 + 6 x 50) / 10
    fills = await executions_of(desk.pool, order_id)
    assert [(fill.qty, fill.price) for fill in fills] == [
        (Decimal(4), Decimal("50.5")),
        (Decimal(6), Decimal(50)),
    ]
    assert sum(fill.qty for fill in fills) == order.filled_qty
    events = await events_about(desk.pool, order_id)
    assert [event.type for event in events] == [
        "order.accepted",
        "order.partially_filled",
        "order.filled",
    ]
    assert [event.data["position_qty"] for event in events[1:]] == ["-4", "-10"]
    position = await position_of(desk.pool, account, desk.symbol)
    assert position is not None
    assert position.qty == Decimal("-10")


async def test_a_market_order_waits_for_the_next_quote_when_the_latest_is_stale(
    desk: Desk,
) -> None:
    account = new_account()
    await desk.quote(ask="100.5", age_s=5)

    order_id = await desk.place(account, type=OrderType.MARKET, limit_price=None)
    before = await desk.order(account, order_id)
    await desk.quote(ask="101")

    assert before.status is OrderStatus.NEW, "a stale quote seen before it arrived does not fill it"
    order = await desk.order(account, order_id)
    assert order.status is OrderStatus.FILLED
    assert order.filled_avg_price == Decimal("101")


async def test_orders_share_a_quotes_size_oldest_first(desk: Desk) -> None:
    first, second = new_account(), new_account()
    await desk.quote(ask_size="0")  # a price to value market orders at
    older = await desk.place(first, type=OrderType.MARKET, limit_price=None, qty=Decimal("5"))
    newer = await desk.place(second, type=OrderType.MARKET, limit_price=None, qty=Decimal("5"))

    await desk.quote(ask_size="7")

    assert (await desk.order(first, older)).filled_qty == Decimal("5")
    assert (await desk.order(second, newer)).filled_qty == Decimal("2")


# --- time in force ---


async def test_ioc_fills_what_the_quote_offers_and_cancels_the_rest(desk: Desk) -> None:
    account = new_account()
    order_id = await desk.place(account, qty=Decimal("10"), time_in_force=TimeInForce.IOC)

    await desk.quote(ask="99", ask_size="3")

    order = await desk.order(account, order_id)
    assert order.status is OrderStatus.CANCELED
    assert order.filled_qty == Decimal("3")
    assert order.canceled_at is not None
    assert await event_types(desk.pool, order_id) == [
        "order.accepted",
        "order.partially_filled",
        "order.canceled",
    ]


async def test_ioc_that_cannot_trade_is_canceled_by_its_first_quote(desk: Desk) -> None:
    account = new_account()
    order_id = await desk.place(account, limit_price=Decimal("98"), time_in_force=TimeInForce.IOC)

    await desk.quote(ask="99")

    order = await desk.order(account, order_id)
    assert order.status is OrderStatus.CANCELED
    assert order.filled_qty == 0
    assert await executions_of(desk.pool, order_id) == []


async def test_fok_fills_entirely_or_not_at_all(desk: Desk) -> None:
    account = new_account()
    killed = await desk.place(account, qty=Decimal("10"), time_in_force=TimeInForce.FOK)
    # Dated: the next fok must wait for the next quote, not be decided on arrival against this.
    await desk.quote(ask="99", ask_size="9", age_s=60)
    filled = await desk.place(account, qty=Decimal("10"), time_in_force=TimeInForce.FOK)
    await desk.quote(ask="99", ask_size="10")

    assert (await desk.order(account, killed)).status is OrderStatus.CANCELED
    assert await executions_of(desk.pool, killed) == []
    assert await event_types(desk.pool, killed) == ["order.accepted", "order.canceled"]
    assert (await desk.order(account, filled)).status is OrderStatus.FILLED
    assert [e.qty for e in await executions_of(desk.pool, filled)] == [Decimal(10)]


async def test_a_stop_triggers_when_the_quote_crosses_it(desk: Desk) -> None:
    account = new_account()
    order_id = await desk.place(
        account,
        side=Side.SELL,
        type=OrderType.STOP,
        limit_price=None,
        stop_price=Decimal("95"),
        qty=Decimal("3"),
    )

    await desk.quote(bid="95.5", ask="95.6")
    waiting = await desk.order(account, order_id)
    await desk.quote(bid="94.9", ask="95")

    assert waiting.status is OrderStatus.NEW
    assert waiting.stop_triggered_at is None
    order = await desk.order(account, order_id)
    assert order.stop_triggered_at is not None
    assert order.status is OrderStatus.FILLED
    assert order.filled_avg_price == Decimal("94.9")
    (_, filled) = await events_about(desk.pool, order_id)
    assert filled.data["order"]["stop_triggered_at"] is not None
    assert filled.data["order"]["stop_price"] == "95"


async def test_a_triggered_stop_limit_waits_for_its_limit(desk: Desk) -> None:
    account = new_account()
    order_id = await desk.place(
        account, type=OrderType.STOP_LIMIT, stop_price=Decimal("105"), limit_price=Decimal("105.5")
    )

    await desk.quote(bid="105.9", ask="106")
    triggered = await desk.order(account, order_id)
    await desk.quote(bid="105.3", ask="105.4")

    assert triggered.stop_triggered_at is not None
    assert triggered.status is OrderStatus.NEW
    assert triggered.version == 2
    order = await desk.order(account, order_id)
    assert order.status is OrderStatus.FILLED
    assert order.filled_avg_price == Decimal("105.4")


# --- positions across orders ---


async def test_positions_net_buys_and_sells_and_realize_pl(desk: Desk) -> None:
    account = new_account()
    await desk.place(account, qty=Decimal("10"), limit_price=Decimal("101"))
    await desk.quote(ask="100")
    await desk.place(account, side=Side.SELL, qty=Decimal("15"), limit_price=Decimal("105"))
    await desk.quote(bid="106", ask="106.5")

    position = await position_of(desk.pool, account, desk.symbol)

    assert position is not None
    assert position.qty == Decimal("-5")
    assert position.avg_entry_price == Decimal("106")
    assert position.realized_pl == Decimal("60")  # 10 x (106 - 100)


# --- the same quote twice, old quotes ---


async def test_a_redelivered_quote_changes_nothing(desk: Desk) -> None:
    account = new_account()
    order_id = await desk.place(account, qty=Decimal("10"))
    quote = desk.next_quote(ask="99", ask_size="4")
    await desk.quotes.handle(quote, delivery_of(quote))
    after_first = await desk.order(account, order_id)

    await desk.quotes.handle(quote, delivery_of(quote, attempt=2))

    assert await desk.order(account, order_id) == after_first
    assert len(await executions_of(desk.pool, order_id)) == 1


async def test_the_same_quote_under_another_message_id_is_skipped_by_its_sequence(
    desk: Desk,
) -> None:
    account = new_account()
    order_id = await desk.place(account, qty=Decimal("10"))
    quote = desk.next_quote(ask="99", ask_size="4")
    await desk.quotes.handle(quote, delivery_of(quote))
    again = CloudEvent.model_validate({**quote.model_dump(), "id": "republished-1"})

    await desk.quotes.handle(again, delivery_of(again))

    assert (await desk.order(account, order_id)).filled_qty == Decimal("4")
    assert len(await executions_of(desk.pool, order_id)) == 1


async def test_a_quote_older_than_the_last_one_processed_is_skipped(desk: Desk) -> None:
    account = new_account()
    await desk.quote()
    await desk.quote()
    order_id = await desk.place(account, qty=Decimal("10"))
    late = quote_event(desk.symbol, 1, ask="90")

    await desk.quotes.handle(late, delivery_of(late))

    assert (await desk.order(account, order_id)).status is OrderStatus.NEW
    assert await last_sequence(desk.pool, desk.symbol) == 2


# --- risk checks that use the market ---


async def test_a_market_order_is_valued_at_the_last_ask(desk: Desk) -> None:
    account = new_account()
    await desk.quote(bid="199999", ask="200001")

    order_id = await desk.place(account, type=OrderType.MARKET, limit_price=None, qty=Decimal("5"))

    order = await desk.order(account, order_id)
    assert order.reject_reason == "notional_limit_exceeded"  # 5 x 200001 > 1_000_000


async def test_a_symbol_without_quote_or_reference_price_takes_limit_orders_only(
    desk: Desk,
) -> None:
    account = new_account()

    market = await desk.place(account, type=OrderType.MARKET, limit_price=None)
    limit = await desk.place(account)

    assert (await desk.order(account, market)).reject_reason == "price_unavailable"
    (rejected,) = await events_about(desk.pool, market)
    assert rejected.type == "order.rejected"
    assert rejected.data["reason"] == "price_unavailable"
    assert (await desk.order(account, limit)).status is OrderStatus.NEW


async def test_an_order_whose_prices_contradict_its_type_is_rejected(desk: Desk) -> None:
    account = new_account()

    order_id = await desk.place(account, type=OrderType.MARKET, limit_price=Decimal("100"))

    order = await desk.order(account, order_id)
    assert order.status is OrderStatus.REJECTED
    assert order.reject_reason == "invalid_order"
    (rejected,) = await events_about(desk.pool, order_id)
    assert rejected.data["reason"] == "invalid_order"
    assert rejected.data["message"] == "market orders have no limit_price"


# --- cancel and replace with fills ---


async def test_canceling_a_partially_filled_order_keeps_its_fill(desk: Desk) -> None:
    account = new_account()
    order_id = await desk.place(account, qty=Decimal("10"))
    await desk.quote(ask="99", ask_size="4")

    await desk.cancel(account, order_id)
    await desk.quote(ask="99", ask_size="100")

    order = await desk.order(account, order_id)
    assert order.status is OrderStatus.CANCELED
    assert order.filled_qty == Decimal("4")
    assert len(await executions_of(desk.pool, order_id)) == 1


async def test_replace_links_the_orders_and_the_replacement_trades(desk: Desk) -> None:
    account = new_account()
    order_id = await desk.place(account, limit_price=Decimal("95"), client_order_id="keep-me")

    command = await desk.replace(account, order_id, limit_price=Decimal("99.5"))
    new_id = UUID(command.data["new_order_id"])
    await desk.quote(ask="99.5")

    old = await desk.order(account, order_id)
    assert old.status is OrderStatus.REPLACED
    assert old.replaced_by == new_id
    assert old.replaced_at is not None
    new = await desk.order(account, new_id)
    assert new.replaces == order_id
    assert new.client_order_id == "keep-me"
    assert new.status is OrderStatus.FILLED
    assert new.filled_avg_price == Decimal("99.5")
    assert await executions_of(desk.pool, order_id) == []
    (_, replaced) = await events_about(desk.pool, order_id)
    assert replaced.type == "order.replaced"
    assert replaced.causationid == command.id
    assert replaced.data["order"]["replaced_by"] == str(new_id)
    assert replaced.data["replacement"]["id"] == str(new_id)
    assert replaced.data["replacement"]["limit_price"] == "99.5"
    assert await event_types(desk.pool, new_id) == ["order.filled"]


async def test_replacing_a_partially_filled_order_sets_a_new_total(desk: Desk) -> None:
    account = new_account()
    order_id = await desk.place(account, qty=Decimal("10"), limit_price=Decimal("99"))
    await desk.quote(ask="99", ask_size="4")

    command = await desk.replace(account, order_id, qty=Decimal("12"))
    await desk.quote(ask="99", ask_size="100")

    old = await desk.order(account, order_id)
    new = await desk.order(account, UUID(command.data["new_order_id"]))
    assert (old.status, old.filled_qty) == (OrderStatus.REPLACED, Decimal(4))
    assert (new.qty, new.filled_qty, new.status) == (Decimal(8), Decimal(8), OrderStatus.FILLED)
    position = await position_of(desk.pool, account, desk.symbol)
    assert position is not None
    assert position.qty == Decimal("12"), "the new total, as asked"


async def test_a_replace_of_a_filled_order_is_refused_and_its_new_id_reads_rejected(
    desk: Desk,
) -> None:
    account = new_account()
    order_id = await desk.place(account)
    await desk.quote(ask="99")

    command = await desk.replace(account, order_id, limit_price=Decimal("98"))

    filled = await desk.order(account, order_id)
    assert (filled.status, filled.replaced_by) == (OrderStatus.FILLED, None)
    new_id = UUID(command.data["new_order_id"])
    refused = await desk.order(account, new_id)
    assert (refused.status, refused.reject_reason) == (OrderStatus.REJECTED, "replace_refused")
    assert (refused.replaces, refused.limit_price, refused.filled_qty) == (
        order_id,
        Decimal("98"),
        Decimal(0),
    )
    (*_, rejected) = await events_about(desk.pool, order_id)
    assert rejected.type == "order.replace_rejected"
    assert rejected.data["reason"] == "order is already filled"
    assert rejected.data["new_order_id"] == command.data["new_order_id"]


async def test_a_cancel_of_a_refused_replacement_is_refused_not_retried(desk: Desk) -> None:
    """The client holds the new id from the PATCH's 202: its cancel must get an answer."""
    account = new_account()
    order_id = await desk.place(account)
    await desk.quote(ask="99")
    command = await desk.replace(account, order_id, limit_price=Decimal("98"))
    new_id = UUID(command.data["new_order_id"])

    await desk.cancel(account, new_id)

    assert (await desk.order(account, new_id)).status is OrderStatus.REJECTED
    (outcome,) = await events_about(desk.pool, new_id)
    assert outcome.type == "order.cancel_rejected"
    assert outcome.data["reason"] == "order is already rejected"


async def test_a_redelivered_replace_changes_nothing(desk: Desk) -> None:
    account = new_account()
    order_id = await desk.place(account)
    command = await desk.replace(account, order_id, qty=Decimal("5"))
    new_id = UUID(command.data["new_order_id"])
    before = await desk.order(account, new_id)

    await handle_one(desk.commands, command, delivery_of(command, attempt=2))
    resent = CloudEvent.model_validate({**command.model_dump(), "id": "resent-replace"})
    await handle_one(desk.commands, resent, delivery_of(resent))

    assert await desk.order(account, new_id) == before
    assert await event_types(desk.pool, order_id) == ["order.accepted", "order.replaced"]


async def test_a_replace_that_overtakes_its_place_fails_until_the_order_exists(
    desk: Desk,
) -> None:
    account = new_account()
    placing = place_command(account, desk.symbol)
    replacing = replace_command(account, UUID(placing.data["order_id"]), qty=Decimal("3"))

    with pytest.raises(OrderNotFound):
        await handle_one(desk.commands, replacing, delivery_of(replacing))
    await handle_one(desk.commands, placing, delivery_of(placing))
    await handle_one(desk.commands, replacing, delivery_of(replacing, attempt=2))

    new = await desk.order(account, UUID(replacing.data["new_order_id"]))
    assert new.qty == Decimal("3")


async def test_a_replacement_may_not_take_a_client_order_id_in_use(desk: Desk) -> None:
    account = new_account()
    await desk.place(account, client_order_id="taken")
    order_id = await desk.place(account, client_order_id="mine")

    await desk.replace(account, order_id, client_order_id="taken")

    assert (await desk.order(account, order_id)).status is OrderStatus.NEW
    (*_, rejected) = await events_about(desk.pool, order_id)
    assert rejected.data["reason"].startswith("duplicate_client_order_id")
