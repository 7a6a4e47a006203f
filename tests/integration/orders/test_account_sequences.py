"""Trade updates numbered per account: 1, 2, 3, … without gaps or repeats whatever runs at the
same time, kept for reconnecting clients, pruned to the newest N, read back after a sequence."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass

import asyncpg
import pytest
from pydantic import BaseModel

from integration.orders.flows import Desk, new_account
from tradewind.common.broker import Topology
from tradewind.common.contracts.types import OrderStatus
from tradewind.common.envelope import CloudEvent, new_event
from tradewind.common.outbox import OutboxMessage, outbox_message
from tradewind.orders.adapters import OrdersUnitOfWork
from tradewind.orders.adapters.trade_updates import TradeUpdates
from tradewind.orders.handlers.trade_update_retention import TradeUpdateRetention


async def account_events(pool: asyncpg.Pool, account_id: str) -> list[tuple[int, CloudEvent]]:
    """The account's events in the outbox, as (outbox id, event), in outbox order."""
    rows = await pool.fetch(
        "SELECT id, body FROM outbox WHERE position($1::bytea in body) > 0 ORDER BY id",
        f'"accountid":"{account_id}"'.encode(),
    )
    return [(row["id"], CloudEvent.from_json(row["body"])) for row in rows]


async def kept_sequences(pool: asyncpg.Pool, account_id: str) -> list[tuple[int, str]]:
    rows = await pool.fetch(
        "SELECT sequence, event_id FROM trade_updates WHERE account_id = $1 ORDER BY sequence",
        account_id,
    )
    return [(row["sequence"], row["event_id"]) for row in rows]


async def test_concurrent_transactions_of_one_account_number_its_updates_without_gaps(
    desk: Desk, orders_pool: asyncpg.Pool
) -> None:
    account = new_account()
    # Places, then cancels racing a quote that fills: commands and quotes, each in transactions
    # of its own, all at once, all changing the same account's orders.
    placed = await asyncio.gather(*(desk.place(account) for _ in range(30)))
    await desk.quote(bid="98", ask="101")  # no fill yet: the book knows the symbol
    await asyncio.gather(
        *(desk.cancel(account, order_id) for order_id in placed[::2]),
        desk.quote(bid="98", ask="99", ask_size="1000"),
        *(desk.place(account) for _ in range(10)),
    )

    events = [
        (outbox_id, event)
        for outbox_id, event in await account_events(orders_pool, account)
        if event.type.startswith("order.")
    ]
    sequences = [event.data["account_sequence"] for _, event in events]
    assert len(events) >= 30 + 15 + 10
    # Outbox order is commit order here: a transaction inserts its rows while it holds the
    # account's counter, so numbers follow the order the transactions committed in.
    assert sequences == list(range(1, len(events) + 1))
    kept = await kept_sequences(orders_pool, account)
    assert kept == [(event.data["account_sequence"], event.id) for _, event in events]
    statuses = {(await desk.order(account, order_id)).status for order_id in placed}
    assert OrderStatus.FILLED in statuses or OrderStatus.PARTIALLY_FILLED in statuses


@dataclass(frozen=True)
class _Update:
    """A trade update as the unit of work stages it (a SequencedEvent). A relay of a later
    test publishes it: to the real events exchange, where nothing is bound to its type."""

    account_id: str
    exchange: str

    def numbered(self, sequence: int) -> OutboxMessage:
        event = new_event(
            source="/tests",
            data=_Numbered(account_sequence=sequence),
            event_type="order.sequence_test",
            account_id=self.account_id,
        )
        return outbox_message(event, exchange=self.exchange)


class _Numbered(BaseModel):
    account_sequence: int


async def _stage_flush_and_fail(pool: asyncpg.Pool, account: str, exchange: str) -> None:
    async with OrdersUnitOfWork.begin(pool) as unit:
        unit.stage(_Update(account, exchange))
        await unit.flush()  # numbered 2, written, then rolled back
        raise RuntimeError("the transaction fails after its flush")


async def test_a_transaction_that_rolls_back_leaves_no_gap(
    orders_pool: asyncpg.Pool, orders_topology: Topology
) -> None:
    account, exchange = new_account(), orders_topology.events
    async with OrdersUnitOfWork.begin(orders_pool) as unit:
        unit.stage(_Update(account, exchange))
    with pytest.raises(RuntimeError):
        await _stage_flush_and_fail(orders_pool, account, exchange)
    async with OrdersUnitOfWork.begin(orders_pool) as unit:
        unit.stage(_Update(account, exchange))
        unit.stage(_Update(account, exchange))

    assert [sequence for sequence, _ in await kept_sequences(orders_pool, account)] == [1, 2, 3]


async def test_updates_after_a_sequence_are_read_in_order_until_pruned_then_a_snapshot(
    desk: Desk, orders_pool: asyncpg.Pool
) -> None:
    account = new_account()
    resting = [await desk.place(account) for _ in range(3)]
    await desk.cancel(account, resting[0])  # updates 1..3 accepted, 4 canceled
    updates = TradeUpdates(orders_pool)

    read = await updates.after(account, 1, limit=2, max_open_orders=10)
    assert (read.resumable, read.has_more, read.last_sequence) == (True, True, 4)
    assert [kept.sequence for kept in read.updates] == [2, 3]
    read = await updates.after(account, 3, limit=2, max_open_orders=10)
    assert (read.resumable, read.has_more) == (True, False)
    assert [json.loads(kept.body)["type"] for kept in read.updates] == ["order.canceled"]
    assert (await updates.after(account, 4, limit=2, max_open_orders=10)).updates == []

    retention = TradeUpdateRetention(TradeUpdates(orders_pool), retained_per_account=2)
    await retention.prune()
    assert [sequence for sequence, _ in await kept_sequences(orders_pool, account)] == [3, 4]
    assert (await updates.after(account, 2, limit=10, max_open_orders=10)).resumable
    for too_far in (1, 0, 5):  # pruned, pruned, past the newest
        read = await updates.after(account, too_far, limit=10, max_open_orders=10)
        assert (read.resumable, read.updates, read.last_sequence) == (False, [], 4)
        assert read.open_orders is not None
        assert [order.id for order in read.open_orders] == resting[1:]
    read = await updates.after(account, 0, limit=10, max_open_orders=1)
    assert read.open_orders_truncated
    assert read.open_orders is not None
    assert [order.id for order in read.open_orders] == resting[1:2]


async def test_an_account_without_updates_resumes_from_zero(orders_pool: asyncpg.Pool) -> None:
    read = await TradeUpdates(orders_pool).after(new_account(), 0, limit=10, max_open_orders=10)
    assert (read.resumable, read.last_sequence, read.updates) == (True, 0, [])


class _Turns:
    """Counts the event loop's turns while running, for a test to see whether work between two
    points let the loop turn."""

    def __init__(self) -> None:
        self.count = 0
        self.running = True

    async def run(self) -> None:
        while self.running:
            self.count += 1
            await asyncio.sleep(0)


@dataclass(frozen=True)
class _WatchedUpdate(_Update):
    """An update that notes the loop's turn when it is numbered (encoded)."""

    turns: _Turns
    numbered_at_turn: list[int]

    def numbered(self, sequence: int) -> OutboxMessage:
        self.numbered_at_turn.append(self.turns.count)
        return super().numbered(sequence)


async def test_a_flush_of_many_updates_numbers_them_in_order_and_shares_the_event_loop(
    orders_pool: asyncpg.Pool, orders_topology: Topology
) -> None:
    # Encoding a large batch's trade updates is the longest run of CPU work of a command batch:
    # it must let the event loop turn (for the service's probes and reads) while it runs, and
    # still number the updates 1, 2, 3, … in staging order.
    account, exchange = new_account(), orders_topology.events
    staged = 2_000
    turns = _Turns()
    numbered_at_turn: list[int] = []
    async with OrdersUnitOfWork.begin(orders_pool) as unit:
        for _ in range(staged):
            unit.stage(_WatchedUpdate(account, exchange, turns, numbered_at_turn))
        counting = asyncio.ensure_future(turns.run())
        try:
            await unit.flush()
        finally:
            turns.running = False
            await counting

    assert len(numbered_at_turn) == staged
    # Encoded in one run, every update would be numbered in the same turn of the loop.
    longest_run = max(Counter(numbered_at_turn).values())
    assert longest_run < staged, "all the updates were encoded without the event loop turning"
    kept = await kept_sequences(orders_pool, account)
    assert [sequence for sequence, _ in kept] == list(range(1, staged + 1))
