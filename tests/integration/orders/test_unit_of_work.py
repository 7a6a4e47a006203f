"""The unit of work of the orders write path, on the real database: its whole interface.

Every write path (commands, quotes, listings, the session-end sweep) goes through
``OrdersUnitOfWork``; these tests pin down what it promises them: claims, loads and locks, the
identity map, staged writes flushed in one statement, the version check, and all or nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Iterator, Sequence
from datetime import timedelta
from decimal import Decimal
from uuid import uuid4

import pytest
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from integration.orders.flows import Pool, new_account, new_symbol, quote_event
from support.polling import eventually
from tradewind.common.broker import Broker, Topology
from tradewind.common.contracts import Instrument, Quote, TradingBlockedBy
from tradewind.common.contracts.types import OrderStatus, OrderType, Side, TimeInForce, utc_now
from tradewind.common.envelope import new_event
from tradewind.common.outbox import OutboxMessage, outbox_message
from tradewind.common.outbox_handoff import OutboxHandoff
from tradewind.orders.adapters import OrderReads, OrdersUnitOfWork, StaleOrder
from tradewind.orders.domain import (
    Execution,
    Order,
    Position,
    SymbolBook,
    TradingBlock,
    cancel,
    execution_id,
)
from tradewind.orders.domain.ledger import Ledger

CONSUMER = "uow.tests"


def new_order(account_id: str, symbol: str, **fields: object) -> Order:
    now = utc_now()
    values: dict[str, object] = {
        "id": uuid4(),
        "account_id": account_id,
        "client_order_id": None,
        "symbol": symbol,
        "side": Side.BUY,
        "type": OrderType.LIMIT,
        "qty": Decimal("10"),
        "limit_price": Decimal("100"),
        "time_in_force": TimeInForce.GTC,
        "status": OrderStatus.NEW,
        "submitted_at": now,
        "created_at": now,
        "updated_at": now,
        "accepted_at": now,
    }
    values.update(fields)
    return Order(**values)  # type: ignore[arg-type]


async def stored(pool: Pool, order: Order) -> Order | None:
    return await OrderReads(pool).order(order.account_id, order.id)


async def outbox_ids(pool: Pool) -> set[str]:
    return {row["message_id"] for row in await pool.fetch("SELECT message_id FROM outbox")}


# --- claims ---


async def test_a_claim_succeeds_once_per_consumer_and_a_release_undoes_it(
    orders_pool: Pool,
) -> None:
    first, second = f"m-{uuid4()}", f"m-{uuid4()}"
    async with OrdersUnitOfWork.begin(orders_pool) as unit:
        assert await unit.claim(CONSUMER, [first, second, first]) == {first, second}
        unit.release(CONSUMER, second)
    async with OrdersUnitOfWork.begin(orders_pool) as unit:
        assert await unit.claim(CONSUMER, [first, second]) == {second}
        assert await unit.claim("another.consumer", [first]) == {first}


# --- staged writes, the identity map, all or nothing ---


async def test_what_is_staged_is_written_in_one_flush_at_commit(orders_pool: Pool) -> None:
    account, symbol = new_account(), new_symbol()
    order = new_order(account, symbol)
    event = outbox_message(
        new_event(
            source="/tests",
            data=Instrument(symbol=symbol, name="x", tick_size=Decimal(1), lot_size=Decimal(1)),
            event_type="test.staged",
        ),
        exchange="tests",
    )

    async with OrdersUnitOfWork.begin(orders_pool) as unit:
        unit.add(order)
        unit.stage(event)
        assert await stored(orders_pool, order) is None, "nothing is written before the commit"

    assert await stored(orders_pool, order) == order
    assert event.message_id in await outbox_ids(orders_pool)


class RecordingHandoff(OutboxHandoff):
    """The hand-off as the unit of work sees it: what it was given, and when."""

    def __init__(self, pool: Pool) -> None:
        super().__init__(
            pool=pool,
            broker=Broker("amqp://unused", Topology("unused"), service="test"),
            lease_s=60,
        )
        self.handed: list[list[str]] = []

    def hand_off(self, messages: Sequence[OutboxMessage]) -> None:
        self.handed.append([message.message_id for message in messages])


def staged_note(symbol: str) -> OutboxMessage:
    return outbox_message(
        new_event(
            source="/tests",
            data=Instrument(symbol=symbol, name="x", tick_size=Decimal(1), lot_size=Decimal(1)),
            event_type="test.staged",
        ),
        exchange="tests",
    )


async def test_with_a_hand_off_the_events_are_held_from_relays_and_handed_off_after_commit(
    orders_pool: Pool,
) -> None:
    handoff = RecordingHandoff(orders_pool)
    first, second = staged_note(new_symbol()), staged_note(new_symbol())

    async with OrdersUnitOfWork.begin(orders_pool, handoff=handoff) as unit:
        unit.stage(first)
        unit.stage(second)
        assert handoff.handed == [], "nothing is handed off before the commit"

    assert handoff.handed == [[first.message_id, second.message_id]]
    leases = await orders_pool.fetch(
        "SELECT relay_after - created_at AS lease FROM outbox WHERE message_id = ANY($1)",
        [first.message_id, second.message_id],
    )
    assert [row["lease"] for row in leases] == [timedelta(seconds=60)] * 2

    with contextlib.suppress(RuntimeError):
        async with OrdersUnitOfWork.begin(orders_pool, handoff=handoff) as unit:
            unit.stage(staged_note(new_symbol()))
            raise RuntimeError("the decision failed")
    assert len(handoff.handed) == 1, "a transaction that rolled back hands nothing off"

    async with OrdersUnitOfWork.begin(orders_pool) as unit:
        without = staged_note(new_symbol())
        unit.stage(without)
    relay_after = await orders_pool.fetchval(
        "SELECT relay_after FROM outbox WHERE message_id = $1", without.message_id
    )
    assert relay_after is None, "without a hand-off the relay publishes at once"


async def test_nothing_is_written_when_the_block_raises(orders_pool: Pool) -> None:
    order = new_order(new_account(), new_symbol())
    claim = f"m-{uuid4()}"

    with contextlib.suppress(RuntimeError):
        async with OrdersUnitOfWork.begin(orders_pool) as unit:
            await unit.claim(CONSUMER, [claim])
            unit.add(order)
            raise RuntimeError("the decision failed")

    assert await stored(orders_pool, order) is None
    async with OrdersUnitOfWork.begin(orders_pool) as unit:
        assert await unit.claim(CONSUMER, [claim]) == {claim}, "the claim rolled back too"


async def test_a_unit_sees_its_own_changes_and_writes_only_the_final_state(
    orders_pool: Pool,
) -> None:
    order = new_order(new_account(), new_symbol())

    async with OrdersUnitOfWork.begin(orders_pool) as unit:
        unit.add(order)
        canceled = cancel(order, utc_now()).order
        unit.update(canceled)
        assert unit.order(order.id) == canceled
        assert unit.order_exists(order.id)

    saved = await stored(orders_pool, order)
    assert saved == canceled
    assert saved is not None
    assert saved.version == 2


async def test_an_order_changed_since_it_was_loaded_fails_the_whole_flush(
    orders_pool: Pool,
) -> None:
    order = new_order(new_account(), new_symbol())
    async with OrdersUnitOfWork.begin(orders_pool) as unit:
        unit.add(order)
    other = new_order(order.account_id, order.symbol)

    async def cancel_what_was_read() -> None:
        async with OrdersUnitOfWork.begin(orders_pool) as unit:
            await unit.load_orders([order.id], lock=True)
            # The row changes behind the unit's back (here: on its own connection, which holds
            # the lock), as a logic error elsewhere would change it.
            await unit.connection.execute(
                "UPDATE orders SET version = version + 1 WHERE id = $1", order.id
            )
            unit.update(cancel(order, utc_now()).order)
            unit.add(other)

    with pytest.raises(StaleOrder):
        await cancel_what_was_read()

    now_stored = await stored(orders_pool, order)
    assert now_stored is not None
    assert now_stored.status is OrderStatus.NEW
    assert await stored(orders_pool, other) is None, "the other writes of the flush rolled back"


async def test_executions_positions_and_books_are_flushed_with_the_orders(
    orders_pool: Pool,
) -> None:
    account, symbol = new_account(), new_symbol()
    order = new_order(account, symbol)
    now = utc_now()
    execution = Execution(
        id=execution_id(order.id, 7),
        order_id=order.id,
        account_id=account,
        symbol=symbol,
        side=Side.BUY,
        qty=Decimal(4),
        price=Decimal("99.5"),
        quote_sequence=7,
        executed_at=now,
    )
    position = Position(account, symbol, Decimal(4), Decimal("398"), Decimal(0), now)

    async with OrdersUnitOfWork.begin(orders_pool) as unit:
        await unit.lock_books([symbol])
        assert unit.book(symbol) == SymbolBook(symbol), "a missing book is created empty"
        await unit.lock_positions([(account, symbol)])
        assert unit.positions_of(symbol, [account]) == {}, "no position yet: flat"
        unit.add(order)
        unit.add_executions([execution])
        unit.save_positions([position])
        book = dataclasses.replace(
            unit.book(symbol), last_sequence=7, ask_price=Decimal("99.5"), ask_available=Decimal(1)
        )
        unit.save_book(book)

    reads = OrderReads(orders_pool)
    assert await reads.order_executions(order.id) == [execution]
    assert await reads.position(account, symbol) == position
    async with OrdersUnitOfWork.begin(orders_pool) as unit:
        await unit.read_committed(markets=[symbol])
        assert unit.book(symbol) == book


async def test_an_order_read_without_a_lock_cannot_be_changed(orders_pool: Pool) -> None:
    order = new_order(new_account(), new_symbol())
    async with OrdersUnitOfWork.begin(orders_pool) as unit:
        unit.add(order)

    async with OrdersUnitOfWork.begin(orders_pool) as unit:
        await unit.load_orders([order.id], lock=False)
        assert unit.order(order.id) == order
        assert unit.changeable(order.id) is None
        with pytest.raises(LookupError):
            unit.update(cancel(order, utc_now()).order)
        await unit.load_orders([order.id], lock=True)
        assert unit.changeable(order.id) == order
        unit.update(cancel(order, utc_now()).order)

    saved = await stored(orders_pool, order)
    assert saved is not None
    assert saved.status is OrderStatus.CANCELED


async def test_a_book_not_locked_cannot_be_saved(orders_pool: Pool) -> None:
    symbol = new_symbol()
    async with OrdersUnitOfWork.begin(orders_pool) as unit:
        await unit.read_committed(markets=[symbol])
        with pytest.raises(LookupError):
            unit.save_book(SymbolBook(symbol, last_sequence=1))


# --- client order ids ---


async def test_client_order_ids_in_use_follow_the_changes_of_the_unit(orders_pool: Pool) -> None:
    account, symbol = new_account(), new_symbol()
    holder = new_order(account, symbol, client_order_id="mine")
    async with OrdersUnitOfWork.begin(orders_pool) as unit:
        unit.add(holder)

    async with OrdersUnitOfWork.begin(orders_pool) as unit:
        await unit.read_committed(client_order_ids=[(account, "mine"), (account, "free")])
        assert unit.client_order_id_in_use(account, "mine")
        assert not unit.client_order_id_in_use(account, "free")
        await unit.load_orders([holder.id], lock=True)
        unit.update(
            dataclasses.replace(holder, status=OrderStatus.REPLACED, version=holder.version + 1)
        )
        assert not unit.client_order_id_in_use(account, "mine"), "a replaced order hands it on"
        unit.add(new_order(account, symbol, client_order_id="free"))
        assert unit.client_order_id_in_use(account, "free"), "taken by an order new in the unit"


# --- what a command batch reads after its accounts' locks, and its ledgers ---


@contextlib.contextmanager
def statements_run(unit: OrdersUnitOfWork) -> Iterator[list[str]]:
    """The statements the unit's connection runs meanwhile. asyncpg reports each on the loop's
    next turn: read the list after a later round trip."""
    run: list[str] = []
    with unit.connection.query_logger(lambda record: run.append(record.query)):
        yield run


async def test_what_decisions_read_of_every_kind_comes_in_one_round_trip(
    orders_pool: Pool,
) -> None:
    account, unblocked, symbol, listed = new_account(), new_account(), new_symbol(), new_symbol()
    holder = new_order(account, symbol, client_order_id="held")
    block = TradingBlock(account, "a test", TradingBlockedBy.OPERATOR, utc_now())
    book = SymbolBook(symbol, last_sequence=3, bid_price=Decimal(99), ask_price=Decimal(101))
    async with OrdersUnitOfWork.begin(orders_pool) as unit:
        await unit.read_committed(trading_blocks_of=[account])
        unit.save_trading_block(account, block)
        unit.add(holder)
        await unit.lock_books([symbol])
        unit.save_book(book)
        instrument = Instrument(
            symbol=listed, name="x", tick_size=Decimal("0.01"), lot_size=Decimal(5)
        )
        assert await unit.record_listing(instrument, listed_at=utc_now())

    missing = uuid4()
    async with OrdersUnitOfWork.begin(orders_pool) as unit:
        with statements_run(unit) as run:
            await unit.read_committed(
                trading_blocks_of=[account, unblocked],
                orders=[holder.id, missing],
                client_order_ids=[(account, "held"), (account, "free")],
                markets=[listed],
                markets_of_orders=[holder.id, missing],
            )
        assert unit.trading_block(account) == block
        assert unit.trading_block(unblocked) is None
        assert unit.order(holder.id) == holder
        assert unit.changeable(holder.id) is None, "read, not locked"
        assert unit.order(missing) is None
        assert unit.client_order_id_in_use(account, "held")
        assert not unit.client_order_id_in_use(account, "free")
        assert unit.is_listed(listed)
        assert unit.lot_size(listed) == Decimal(5)
        assert not unit.is_listed(symbol), "the order's symbol was never listed"
        assert unit.book(symbol) == book, "the market of the order's symbol came with it"
    await orders_pool.fetchval("SELECT 1")
    assert len(run) == 1, run


async def test_a_locked_ledger_moves_in_the_flush_and_an_unlocked_one_before_it(
    orders_pool: Pool,
) -> None:
    locked, unlocked = new_account(), new_account()
    first = new_order(locked, new_symbol(), qty=Decimal(10), hold_price=Decimal(100))
    second = new_order(unlocked, new_symbol(), qty=Decimal(3), hold_price=Decimal(50))

    async with OrdersUnitOfWork.begin(orders_pool, initial_cash=Decimal(5000)) as unit:
        await unit.lock_ledgers([locked])
        with statements_run(unit) as run:
            unit.add(first)
            unit.add(second)
            await unit.flush()
        assert unit.ledger(locked) == Ledger(locked, Decimal(5000), Decimal(1000))
        unit.update(cancel(first, utc_now()).order)
        assert unit.ledger(locked) == Ledger(locked, Decimal(5000), Decimal(0))
    await orders_pool.fetchval("SELECT 1")
    assert len(run) == 2, "the unlocked ledger's move, then the flush: " + repr(run)

    ledgers = {
        row["account_id"]: Ledger(row["account_id"], row["cash"], row["held_for_orders"])
        for row in await orders_pool.fetch(
            "SELECT * FROM account_ledgers WHERE account_id = ANY($1::text[])", [locked, unlocked]
        )
    }
    assert ledgers == {
        locked: Ledger(locked, Decimal(5000), Decimal(0)),
        unlocked: Ledger(unlocked, Decimal(5000), Decimal(150)),
    }


# --- locks ---


async def test_a_book_lock_makes_a_second_transaction_wait(orders_pool: Pool) -> None:
    symbol = new_symbol()
    order = new_order(new_account(), symbol)
    waited = asyncio.Event()

    async def second() -> None:
        async with OrdersUnitOfWork.begin(orders_pool) as unit:
            await unit.lock_books([symbol])
            waited.set()

    async with OrdersUnitOfWork.begin(orders_pool) as unit:
        await unit.lock_books([symbol])
        contender = asyncio.create_task(second())
        await eventually(lambda: backend_waiting(orders_pool), message="the second never waited")
        assert not waited.is_set()
        unit.add(order)
    await asyncio.wait_for(contender, timeout=10)
    assert waited.is_set()


async def backend_waiting(pool: Pool) -> bool:
    count = await pool.fetchval(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    return bool(count)


async def test_day_orders_due_skip_what_another_transaction_holds(orders_pool: Pool) -> None:
    account, symbol = new_account(), new_symbol()
    long_ago = utc_now() - timedelta(days=3)
    held, free = (
        new_order(account, symbol, time_in_force=TimeInForce.DAY, submitted_at=long_ago)
        for _ in range(2)
    )
    async with OrdersUnitOfWork.begin(orders_pool) as unit:
        unit.add(held)
        unit.add(free)

    async with orders_pool.acquire() as holder, holder.transaction():
        await holder.execute("SELECT 1 FROM orders WHERE id = $1 FOR UPDATE", held.id)
        async with OrdersUnitOfWork.begin(orders_pool) as unit:
            due = await unit.day_orders_due(utc_now() - timedelta(days=1), limit=10_000)
    due_ids = {order.id for order in due}
    assert free.id in due_ids
    assert held.id not in due_ids


# --- the trace an order was placed in ---


async def test_an_order_keeps_the_trace_it_was_placed_in_and_the_quote_path_reads_it(
    orders_pool: Pool,
) -> None:
    account, symbol = new_account(), new_symbol()
    order, untraced = new_order(account, symbol), new_order(account, symbol)
    placing = SpanContext(
        trace_id=int(uuid4().hex, 16),
        span_id=int(uuid4().hex[:16], 16),
        is_remote=False,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    with trace.use_span(NonRecordingSpan(placing)):
        async with OrdersUnitOfWork.begin(orders_pool) as unit:
            unit.add(order)
    async with OrdersUnitOfWork.begin(orders_pool) as unit:
        unit.add(untraced)  # outside any trace

    # A quote that reaches both limits loads them with their rows: no query of its own.
    crossing = quote_event(symbol, 1, bid="99", ask="99.5").data_as(Quote)
    async with OrdersUnitOfWork.begin(orders_pool) as unit:
        await unit.lock_books([symbol])
        loaded = await unit.executable_orders(crossing)
        assert {o.id for o in loaded} == {order.id, untraced.id}
        assert unit.placed_in(order.id) == (f"00-{placing.trace_id:032x}-{placing.span_id:016x}-01")
        assert unit.placed_in(untraced.id) is None
