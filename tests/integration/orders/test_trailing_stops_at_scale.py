"""What a quote reads of many trailing stops: only those whose mark it moves or whose stop it
crosses, through their indexes, however many trail far from the market."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from integration.orders.flows import Desk, new_account, place_command
from integration.orders.test_orders_matching_at_scale import explain, place_many, scan_nodes
from tradewind.common.contracts import Quote
from tradewind.common.contracts.types import OrderType, Side
from tradewind.common.envelope import CloudEvent
from tradewind.orders.adapters import OrdersUnitOfWork
from tradewind.orders.adapters.unit_of_work import matching_queries


def trailing_stop(desk: Desk, account: str, side: Side, trail: str) -> CloudEvent:
    return place_command(
        account,
        desk.symbol,
        side=side,
        type=OrderType.TRAILING_STOP,
        limit_price=None,
        trail_price=Decimal(trail),
    )


async def latest_quote(desk: Desk, *, bid: str, ask: str) -> None:
    await desk.pool.execute(
        "UPDATE symbol_books SET bid_price = $2, ask_price = $3 WHERE symbol = $1",
        desk.symbol,
        Decimal(bid),
        Decimal(ask),
    )


async def test_a_quote_reads_only_the_trailing_stops_it_moves_or_triggers(desk: Desk) -> None:
    account = new_account()
    # Marks start at the latest quote: sells at a bid of 150 with a wide trail (stop 50), buys at
    # an ask of 50 (stop 150). The book is set between the batches rather than quoted, so that
    # no quote moves or triggers them before the one under test.
    await desk.quote(age_s=60)
    await latest_quote(desk, bid="150", ask="150.1")
    far_sells = [trailing_stop(desk, account, Side.SELL, "100") for _ in range(1500)]
    crossed_sell = trailing_stop(desk, account, Side.SELL, "50")  # stop 100: a bid of 99.5 crosses
    await place_many(desk, [*far_sells, crossed_sell])
    await latest_quote(desk, bid="49.9", ask="50")
    far_buys = [trailing_stop(desk, account, Side.BUY, "100") for _ in range(1500)]
    raised_sell = trailing_stop(desk, account, Side.SELL, "60")  # mark 49.9: a bid of 99.5 moves it
    crossed_buy = trailing_stop(desk, account, Side.BUY, "0.5")  # stop 50.5: an ask of 100 crosses
    await place_many(desk, [*far_buys, raised_sell, crossed_buy])
    await desk.pool.execute("ANALYZE orders")
    quote = Quote(
        symbol=desk.symbol,
        bid_price=Decimal("99.5"),
        bid_size=Decimal(0),
        ask_price=Decimal(100),
        ask_size=Decimal(0),
        timestamp=crossed_buy.time,
        sequence=99,
    )

    async with OrdersUnitOfWork.begin(desk.pool) as unit:
        read = await unit.executable_orders(quote)
    plan = await explain(desk.pool, *matching_queries(quote)["candidates"])

    wanted = {command.data["order_id"] for command in (crossed_sell, raised_sell, crossed_buy)}
    assert {str(order.id) for order in read} == wanted
    rows: dict[str, int] = {}
    for scan in scan_nodes(plan):
        assert "Seq" not in scan["Node Type"]
        assert scan.get("Rows Removed by Filter", 0) == 0, "a part read rows it did not need"
        name: Any = scan.get("Index Name")
        rows[name] = rows.get(name, 0) + scan["Actual Rows"]
    assert rows["ix_orders_trailing_marks"] == 1, "the one mark the quote moves"
    assert rows["ix_orders_pending_stops"] == 2, "the two stops it crosses"
