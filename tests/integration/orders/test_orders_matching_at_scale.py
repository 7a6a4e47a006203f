"""Matching at scale on the real database: what a quote reads, priority, and fills on arrival.

A quote must read only the orders it can change — through the matching indexes, however many
orders rest far from the market — and an order that arrives while the latest quote is fresh trades
on it at once.
"""

from __future__ import annotations

import json
import random
from decimal import Decimal
from typing import Any
from uuid import UUID

from integration.orders.flows import (
    Desk,
    Pool,
    delivery_of,
    event_types,
    executions_of,
    new_account,
    order_id_of,
    place_command,
    quote_event,
)
from tradewind.common.broker import Incoming
from tradewind.common.contracts import Quote
from tradewind.common.contracts.types import OrderStatus, OrderType, Side, TimeInForce
from tradewind.common.envelope import CloudEvent
from tradewind.orders.adapters import OrdersUnitOfWork
from tradewind.orders.adapters.unit_of_work import matching_queries


async def place_many(desk: Desk, commands: list[CloudEvent]) -> list[UUID]:
    """Place the commands a batch of up to 500 at a time, as the command consumer would."""
    for start in range(0, len(commands), 500):
        chunk = commands[start : start + 500]
        outcome = await desk.commands([Incoming(c, delivery_of(c), {}) for c in chunk])
        assert not outcome.retry
        assert not outcome.park
    return [order_id_of(command) for command in commands]


def order(desk: Desk, account: str, **fields: Any) -> CloudEvent:
    return place_command(account, desk.symbol, **fields)


def far_from_the_market(desk: Desk, account: str, count: int) -> list[CloudEvent]:
    """Resting orders no quote near 100 reaches: buys far below, sells far above, stops far out."""
    rng = random.Random(7)
    made: list[CloudEvent] = []
    for n in range(count):
        price = Decimal(rng.randint(1000, 5000)) / 100
        kind = n % 4
        if kind == 0:
            made.append(order(desk, account, side=Side.BUY, limit_price=price))
        elif kind == 1:
            made.append(order(desk, account, side=Side.SELL, limit_price=price + 150))
        elif kind == 2:
            made.append(
                order(
                    desk,
                    account,
                    side=Side.BUY,
                    type=OrderType.STOP,
                    limit_price=None,
                    stop_price=price + 150,
                )
            )
        else:
            made.append(
                order(
                    desk,
                    account,
                    side=Side.SELL,
                    type=OrderType.STOP,
                    limit_price=None,
                    stop_price=price,
                )
            )
    return made


def the_quote(desk: Desk, sequence: int, **fields: Any) -> Quote:
    return quote_event(desk.symbol, sequence, **fields).data_as(Quote)


# --- what a quote reads ---


async def test_a_quote_reads_only_the_orders_it_can_change(desk: Desk) -> None:
    account = new_account()
    await desk.quote(bid="99.5", ask="100", age_s=60)  # prices for the market orders' check
    await place_many(desk, far_from_the_market(desk, account, 2000))
    reachable = await place_many(
        desk,
        [
            order(desk, account, side=Side.BUY, limit_price=Decimal("100.5")),
            order(desk, account, side=Side.BUY, limit_price=Decimal("100")),
            order(desk, account, side=Side.SELL, limit_price=Decimal("99.5")),
            order(desk, account, type=OrderType.STOP, limit_price=None, stop_price=Decimal("99")),
            order(
                desk,
                account,
                side=Side.SELL,
                type=OrderType.STOP,
                limit_price=None,
                stop_price=Decimal("100"),
            ),
            order(desk, account, limit_price=Decimal("90"), time_in_force=TimeInForce.IOC),
        ],
    )
    quote = the_quote(desk, 99, bid="99.5", ask="100")

    async with OrdersUnitOfWork.begin(desk.pool) as unit:
        read = await unit.executable_orders(quote)

    assert sorted(o.id for o in read) == sorted(reachable), "only what the quote can change"


async def test_a_quote_stops_reading_resting_orders_once_its_size_is_covered(desk: Desk) -> None:
    account = new_account()
    await desk.quote(age_s=60)
    placed = await place_many(
        desk, [order(desk, account, limit_price=Decimal("101"), qty=Decimal(1)) for _ in range(500)]
    )
    quote = the_quote(desk, 99, ask="100", ask_size="100", bid_size="0")

    async with OrdersUnitOfWork.begin(desk.pool) as unit:
        read = await unit.executable_orders(quote, page_size=64)

    assert len(read) == 128, "two pages of 64 cover a size of 100 lots of 1"
    assert [o.id for o in read] == placed[:128], "in time priority at one price"


async def test_the_matching_queries_run_on_their_indexes_and_read_only_what_they_return(
    desk: Desk,
) -> None:
    account = new_account()
    await desk.quote(age_s=60)
    await place_many(desk, far_from_the_market(desk, account, 4000))
    await place_many(
        desk,
        [order(desk, account, limit_price=Decimal("100.5")) for _ in range(3)]
        + [order(desk, account, side=Side.SELL, limit_price=Decimal("99")) for _ in range(2)],
    )
    await desk.pool.execute("ANALYZE orders")
    quote = the_quote(desk, 99, bid="99.5", ask="100")

    plans = {
        name: await explain(desk.pool, statement, args)
        for name, (statement, args) in matching_queries(quote).items()
    }

    # One statement reads the candidates: every part on its own index, and each index scan
    # returns only what the quote can change (stops crossed: none; ioc/fok waiting: none).
    candidates = list(scan_nodes(plans["candidates"]))
    assert [scan["Node Type"] for scan in candidates if "Seq" in scan["Node Type"]] == []
    rows_by_index: dict[str, list[int]] = {}
    for scan in candidates:
        assert scan.get("Rows Removed by Filter", 0) == 0, "a part read rows it did not need"
        if "Index Name" in scan:
            rows_by_index.setdefault(scan["Index Name"], []).append(scan["Actual Rows"])
    assert rows_by_index == {
        "ix_orders_pending_stops": [0, 0],
        "ix_orders_trailing_marks": [0, 0],
        "ix_orders_waiting_ioc_fok": [0],
        "ix_orders_resting_bids": [3],
        "ix_orders_resting_asks": [2],
    }
    for name, index in (
        ("next page of bids", "ix_orders_resting_bids"),
        ("next page of asks", "ix_orders_resting_asks"),
    ):
        (scan,) = (node for node in scan_nodes(plans[name]) if "Index Name" in node)
        assert scan["Index Name"] == index, name
        assert not [node for node in scan_nodes(plans[name]) if "Seq" in node["Node Type"]]


async def explain(pool: Pool, statement: str, args: tuple[Any, ...]) -> dict[str, Any]:
    async with pool.acquire() as connection, connection.transaction():
        raw = await connection.fetchval(
            f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {statement}", *args
        )
    plan: dict[str, Any] = json.loads(raw)[0]["Plan"]
    return plan


def scan_nodes(plan: dict[str, Any]) -> Any:
    if "Scan" in plan["Node Type"]:
        yield plan
    for child in plan.get("Plans", []):
        yield from scan_nodes(child)


# --- priority and sizes across levels ---


async def test_buys_fill_by_price_then_time_across_many_orders(desk: Desk) -> None:
    account = new_account()
    await desk.quote(age_s=60)
    rng = random.Random(11)
    prices = [Decimal(p) for p in ("100.5", "101", "101.5", "102")]
    commands = [
        order(desk, account, limit_price=rng.choice(prices), qty=Decimal(1)) for _ in range(60)
    ]
    ids = await place_many(desk, commands)
    limit_of = {order_id_of(c): Decimal(c.data["limit_price"]) for c in commands}
    rank = {order_id: (-limit_of[order_id], position) for position, order_id in enumerate(ids)}
    expected = sorted(ids, key=rank.__getitem__)[:25]

    await desk.quote(ask="100", ask_size="25")

    filled = {
        order_id
        for order_id in ids
        if (await desk.order(account, order_id)).status is OrderStatus.FILLED
    }
    assert filled == set(expected)


async def test_a_quote_fills_level_after_level_and_leaves_the_last_partially_filled(
    desk: Desk,
) -> None:
    account = new_account()
    await desk.quote(age_s=60)
    best = await desk.place(account, limit_price=Decimal("103"), qty=Decimal(10))
    second = await desk.place(account, limit_price=Decimal("102"), qty=Decimal(10))
    third = await desk.place(account, limit_price=Decimal("101"), qty=Decimal(10))
    out_of_reach = await desk.place(account, limit_price=Decimal("99"), qty=Decimal(10))

    await desk.quote(ask="100", ask_size="25")

    assert [(await desk.order(account, o)).filled_qty for o in (best, second, third)] == [
        Decimal(10),
        Decimal(10),
        Decimal(5),
    ]
    assert (await desk.order(account, third)).status is OrderStatus.PARTIALLY_FILLED
    assert (await desk.order(account, out_of_reach)).filled_qty == 0
    assert [e.price for e in await executions_of(desk.pool, third)] == [Decimal(100)]


async def test_a_quote_triggers_every_stop_it_crosses_and_no_other(desk: Desk) -> None:
    account = new_account()
    await desk.quote(age_s=60)
    crossed = [
        await desk.place(account, type=OrderType.STOP, limit_price=None, stop_price=Decimal(p))
        for p in ("99", "100")
    ]
    not_crossed = await desk.place(
        account, type=OrderType.STOP, limit_price=None, stop_price=Decimal("100.01")
    )

    await desk.quote(ask="100", ask_size="1000")

    for order_id in crossed:
        stop = await desk.order(account, order_id)
        assert stop.stop_triggered_at is not None
        assert stop.status is OrderStatus.FILLED
    untouched = await desk.order(account, not_crossed)
    assert untouched.stop_triggered_at is None
    assert untouched.version == 1


# --- execution on arrival ---


async def test_a_market_order_fills_on_arrival_against_a_fresh_quote(desk: Desk) -> None:
    account = new_account()
    await desk.quote(bid="99.5", ask="100.5", ask_size="1000")

    order_id = await desk.place(account, type=OrderType.MARKET, limit_price=None, qty=Decimal(5))

    filled = await desk.order(account, order_id)
    assert filled.status is OrderStatus.FILLED
    assert filled.filled_avg_price == Decimal("100.5")
    assert await event_types(desk.pool, order_id) == ["order.accepted", "order.filled"]
    (execution,) = await executions_of(desk.pool, order_id)
    assert execution.quote_sequence == 1, "it traded on the latest quote"


async def test_a_marketable_limit_fills_on_arrival_and_one_that_is_not_rests(desk: Desk) -> None:
    account = new_account()
    await desk.quote(bid="99.5", ask="100.5")

    marketable = await desk.place(account, limit_price=Decimal("101"), qty=Decimal(5))
    resting = await desk.place(account, limit_price=Decimal("100"), qty=Decimal(5))

    assert (await desk.order(account, marketable)).status is OrderStatus.FILLED
    assert (await desk.order(account, marketable)).filled_avg_price == Decimal("100.5")
    assert (await desk.order(account, resting)).status is OrderStatus.NEW


async def test_arrivals_share_what_the_latest_quote_still_offers(desk: Desk) -> None:
    first_account, second_account = new_account(), new_account()
    await desk.quote(ask="100.5", ask_size="5")

    first = await desk.place(first_account, type=OrderType.MARKET, limit_price=None, qty=Decimal(3))
    second = await desk.place(
        second_account, type=OrderType.MARKET, limit_price=None, qty=Decimal(3)
    )

    assert (await desk.order(first_account, first)).filled_qty == Decimal(3)
    partly = await desk.order(second_account, second)
    assert partly.filled_qty == Decimal(2), "only 2 of the quote's 5 were left"
    assert partly.status is OrderStatus.PARTIALLY_FILLED
    await desk.quote(ask="101", ask_size="10")
    assert (await desk.order(second_account, second)).status is OrderStatus.FILLED


async def test_ioc_and_fok_are_decided_on_arrival(desk: Desk) -> None:
    account = new_account()
    await desk.quote(ask="100.5", ask_size="4")

    ioc = await desk.place(
        account, qty=Decimal(10), limit_price=Decimal("101"), time_in_force=TimeInForce.IOC
    )
    fok = await desk.place(
        account, qty=Decimal(10), limit_price=Decimal("101"), time_in_force=TimeInForce.FOK
    )
    out_of_limit = await desk.place(
        account, qty=Decimal(1), limit_price=Decimal("99"), time_in_force=TimeInForce.IOC
    )

    ioc_order = await desk.order(account, ioc)
    assert ioc_order.status is OrderStatus.CANCELED
    assert ioc_order.filled_qty == Decimal(4)
    assert await event_types(desk.pool, ioc) == [
        "order.accepted",
        "order.partially_filled",
        "order.canceled",
    ]
    assert (await desk.order(account, fok)).status is OrderStatus.CANCELED
    assert await executions_of(desk.pool, fok) == []
    assert (await desk.order(account, out_of_limit)).status is OrderStatus.CANCELED


async def test_a_stop_the_latest_quote_already_crosses_triggers_on_arrival(desk: Desk) -> None:
    account = new_account()
    await desk.quote(bid="94.9", ask="95")

    order_id = await desk.place(
        account, side=Side.SELL, type=OrderType.STOP, limit_price=None, stop_price=Decimal("95")
    )

    stop = await desk.order(account, order_id)
    assert stop.stop_triggered_at is not None
    assert stop.status is OrderStatus.FILLED
    assert stop.filled_avg_price == Decimal("94.9")


async def test_nothing_fills_on_arrival_against_a_stale_quote(desk: Desk) -> None:
    account = new_account()
    await desk.quote(bid="99.5", ask="100.5", age_s=3)

    market = await desk.place(account, type=OrderType.MARKET, limit_price=None)
    ioc = await desk.place(account, limit_price=Decimal("101"), time_in_force=TimeInForce.IOC)
    stop = await desk.place(
        account, type=OrderType.STOP, limit_price=None, stop_price=Decimal("100")
    )

    for order_id in (market, ioc, stop):
        waiting = await desk.order(account, order_id)
        assert waiting.status is OrderStatus.NEW
        assert waiting.version == 1
        assert waiting.stop_triggered_at is None
        assert await executions_of(desk.pool, order_id) == []
