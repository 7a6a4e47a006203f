"""Commands and quotes racing on one order, run concurrently on separate database sessions.

Each race runs many times. Two rounds in three are gated: a third transaction holds the order's
row while both contenders start, one after the other, and block on it; releasing it lets them go
at once, so they truly contend (and each side goes first in turn). Every third round runs free,
with a varying head start. Whoever wins, the outcome is exactly one of the allowed ones and the
order is never filled twice.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Coroutine
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from integration.orders.flows import (
    Desk,
    Pool,
    cancel_command,
    delivery_of,
    event_types,
    executions_of,
    handle_one,
    new_account,
    order_id_of,
    place_command,
    replace_command,
)
from support.polling import eventually
from tradewind.common.broker import Incoming
from tradewind.common.contracts.types import OrderStatus, OrderType
from tradewind.common.envelope import CloudEvent
from tradewind.orders.handlers import OrderCommandHandler, OrderNotFound

ROUNDS = 30
GATE = "SELECT id FROM orders WHERE id = $1 FOR UPDATE"
# The racing quotes are dated in the past: the next round's order must rest, not trade on arrival
# against the last round's quote (which a fresh quote would make it do).
STALE_S = 60

Contender = Coroutine[Any, Any, None]


async def backends_waiting_on_locks(pool: Pool, count: int) -> bool:
    waiting = await pool.fetchval(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    return bool(waiting == count)


async def race(
    pool: Pool, order_id: UUID, first: Contender, second: Contender, round_number: int
) -> None:
    """Run both contenders concurrently; see the module's docstring for how."""
    if round_number % 2:
        first, second = second, first
    if round_number % 3 == 2:
        await asyncio.gather(first, _after_yields(round_number % 7, second))
        return
    async with pool.acquire() as gate, gate.transaction():
        await gate.execute(GATE, order_id)
        started = [asyncio.create_task(first)]
        await eventually(lambda: backends_waiting_on_locks(pool, 1), message="first not held")
        started.append(asyncio.create_task(second))
        await eventually(lambda: backends_waiting_on_locks(pool, 2), message="second not held")
    await asyncio.gather(*started)


async def _after_yields(count: int, contender: Contender) -> None:
    for _ in range(count):
        await asyncio.sleep(0)
    await contender


async def test_a_cancel_racing_a_fill_has_exactly_one_winner(desk: Desk) -> None:
    winners: Counter[OrderStatus] = Counter()
    for round_number in range(ROUNDS):
        account = new_account()
        order_id = await desk.place(account, qty=Decimal("10"), limit_price=Decimal("100"))
        cancel = cancel_command(account, order_id)
        quote = desk.next_quote(ask="99", ask_size="1000", age_s=STALE_S)

        await race(
            desk.pool,
            order_id,
            handle_one(desk.commands, cancel, delivery_of(cancel)),
            desk.quotes.handle(quote, delivery_of(quote)),
            round_number,
        )

        order = await desk.order(account, order_id)
        fills = await executions_of(desk.pool, order_id)
        events = await event_types(desk.pool, order_id)
        if order.status is OrderStatus.CANCELED:
            assert fills == []
            assert order.filled_qty == 0
            assert events == ["order.accepted", "order.canceled"]
        else:
            assert order.status is OrderStatus.FILLED
            assert [fill.qty for fill in fills] == [Decimal("10")]
            assert order.filled_qty == Decimal("10")
            assert events == ["order.accepted", "order.filled", "order.cancel_rejected"]
        winners[order.status] += 1
    assert set(winners) == {OrderStatus.CANCELED, OrderStatus.FILLED}, winners


@pytest.mark.parametrize("ask_size", ["1000", "4"], ids=["full-fill", "partial-fill"])
async def test_a_replace_racing_a_fill_never_has_both_win(desk: Desk, ask_size: str) -> None:
    winners: Counter[str] = Counter()
    for round_number in range(ROUNDS):
        account = new_account()
        order_id = await desk.place(account, qty=Decimal("10"), limit_price=Decimal("100"))
        # The replacement's limit is out of reach of the racing quote: only the original can fill.
        replace = replace_command(account, order_id, limit_price=Decimal("98"))
        new_id = UUID(replace.data["new_order_id"])
        quote = desk.next_quote(ask="99", ask_size=ask_size, age_s=STALE_S)

        await race(
            desk.pool,
            order_id,
            handle_one(desk.commands, replace, delivery_of(replace)),
            desk.quotes.handle(quote, delivery_of(quote)),
            round_number,
        )

        old = await desk.order(account, order_id)
        fills = await executions_of(desk.pool, order_id)
        assert sum(fill.qty for fill in fills) == old.filled_qty
        assert len(fills) <= 1, "one quote fills an order at most once"
        events = await event_types(desk.pool, order_id)
        if old.status is OrderStatus.FILLED:
            refused = await desk.order(account, new_id)
            assert (refused.status, refused.filled_qty) == (OrderStatus.REJECTED, Decimal(0))
            assert events == ["order.accepted", "order.filled", "order.replace_rejected"]
            winners["fill"] += 1
            continue
        assert old.status is OrderStatus.REPLACED
        assert old.replaced_by == new_id
        new = await desk.order(account, new_id)
        assert new.status is OrderStatus.NEW
        assert new.filled_qty == 0
        assert new.qty is not None
        assert new.qty + old.filled_qty == Decimal("10"), "the total stays 10"
        if fills:
            assert events == ["order.accepted", "order.partially_filled", "order.replaced"]
            winners["partial fill, then replace"] += 1
        else:
            assert events == ["order.accepted", "order.replaced"]
            winners["replace"] += 1
    expected = (
        {"fill", "replace"} if ask_size == "1000" else {"partial fill, then replace", "replace"}
    )
    assert set(winners) == expected, winners


async def test_a_replace_racing_its_own_republished_copy_replaces_once(desk: Desk) -> None:
    account = new_account()
    order_id = await desk.place(account)
    replace = replace_command(account, order_id, qty=Decimal("4"))
    copy = CloudEvent.model_validate({**replace.model_dump(), "id": "republished-replace"})

    await race(
        desk.pool,
        order_id,
        handle_one(desk.commands, replace, delivery_of(replace)),
        handle_one(desk.commands, copy, delivery_of(copy)),
        round_number=0,
    )

    assert await event_types(desk.pool, order_id) == ["order.accepted", "order.replaced"]
    new = await desk.order(account, UUID(replace.data["new_order_id"]))
    assert new.qty == Decimal("4")


async def test_an_order_committed_while_a_batch_loads_is_retried_not_refused(
    desk: Desk, orders_handler: OrderCommandHandler, orders_pool: Pool
) -> None:
    """A replace whose order another process commits between the batch's first read and its
    locks must not be applied there (its book is not locked, its market not loaded): it is left
    for a retry, which replaces the order."""
    await desk.quote()  # a fresh book: a place on desk.symbol makes the batch lock it
    account = new_account()
    placing = place_command(account, "AAPL")
    order_id = order_id_of(placing)
    replacing = replace_command(account, order_id, qty=Decimal(4))
    batch = [
        Incoming(replacing, delivery_of(replacing), {}),
        Incoming(
            trading := place_command(account, desk.symbol, type=OrderType.MARKET, limit_price=None),
            delivery_of(trading),
            {},
        ),
    ]
    async with orders_pool.acquire() as gate, gate.transaction():
        await gate.execute("SELECT 1 FROM symbol_books WHERE symbol = $1 FOR UPDATE", desk.symbol)
        handling = asyncio.create_task(orders_handler(batch))
        await eventually(lambda: backends_waiting_on_locks(orders_pool, 1), message="not held")
        # Meanwhile another process places the order the replace names.
        await handle_one(orders_handler, placing)
    outcome = await handling

    assert set(outcome.retry) == {0}, "the replace is retried"
    assert isinstance(outcome.retry[0], OrderNotFound)
    assert (await desk.order(account, order_id)).status is OrderStatus.NEW
    assert await event_types(desk.pool, order_id) == ["order.accepted"]
    await handle_one(orders_handler, replacing, delivery_of(replacing, attempt=2))
    assert (await desk.order(account, order_id)).status is OrderStatus.REPLACED
