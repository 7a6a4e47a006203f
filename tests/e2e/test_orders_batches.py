"""Group commit in the orders service, with real processes: crashes, poison, two consumers.

Each test runs orders processes of its own (its own namespace and database), so it can kill them
and read their queues without disturbing the shared system of the other end-to-end tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import aio_pika
import asyncpg
import pytest

from support.commands import command_message
from support.infra import Infra
from support.namespace_cleanup import delete_namespace_of
from support.polling import eventually
from support.services import ServiceProcess, free_port
from support.system import TEST_INITIAL_CASH
from tradewind.common.contracts import (
    CancelOrder,
    Contract,
    Instrument,
    PlaceOrder,
    ReplaceOrder,
)
from tradewind.common.contracts.types import OrderType, Side, TimeInForce, utc_now
from tradewind.common.db import create_pool
from tradewind.common.envelope import CloudEvent, new_event
from tradewind.common.migrations import upgrade_database
from tradewind.orders.adapters import OrdersUnitOfWork
from tradewind.orders.app import SERVICE_DIR as ORDERS_DIR

pytestmark = pytest.mark.e2e

SYMBOL = "BATCH"


@dataclass
class Orders:
    """A private orders deployment: database, namespace, and the processes running it."""

    infra: Infra
    env: dict[str, str]
    pool: asyncpg.Pool
    processes: list[ServiceProcess] = field(default_factory=list)

    @property
    def namespace(self) -> str:
        return self.env["TRADEWIND_NAMESPACE"]

    async def start(self) -> ServiceProcess:
        port = free_port()
        env = {**self.env, "TRADEWIND_ORDERS_PORT": str(port)}
        process = ServiceProcess(f"orders-batch-{port}", "tradewind.orders", port, env).start()
        self.processes.append(process)
        await process.wait_ready()
        return process

    async def publish(self, *commands: CloudEvent) -> None:
        """Publish with confirms, one after the other: the queue holds them in this order."""
        connection = await aio_pika.connect(self.infra.amqp_url)
        async with connection:
            channel = await connection.channel(publisher_confirms=True)
            exchange = await channel.get_exchange(f"{self.namespace}.commands")
            for command in commands:
                await exchange.publish(
                    command_message(command),
                    routing_key=command.type,
                )

    async def parked(self) -> list[str]:
        """Message ids in the command queue's parking lot (read without taking them)."""
        connection = await aio_pika.connect(self.infra.amqp_url)
        async with connection:
            channel = await connection.channel()
            queue = await channel.declare_queue(
                f"{self.namespace}.orders.commands.parked", passive=True
            )
            ids = []
            while (message := await queue.get(no_ack=False, fail=False)) is not None:
                ids.append(message.message_id or "")
            return ids


@pytest.fixture
async def orders(infra: Infra) -> AsyncIterator[Orders]:
    name = f"orders_batch_{uuid.uuid4().hex[:6]}"
    url = await infra.create_database(name)
    await asyncio.to_thread(upgrade_database, ORDERS_DIR, url)
    pool = await create_pool(url, max_size=2)
    async with OrdersUnitOfWork.begin(pool) as unit:
        await unit.record_listing(
            Instrument(symbol=SYMBOL, name="Batch", tick_size=Decimal("0.01"), lot_size=Decimal(1)),
            listed_at=utc_now(),
        )
    deployment = Orders(
        infra,
        {
            "TRADEWIND_NAMESPACE": f"{infra.namespace}-{name}",
            "TRADEWIND_AMQP_URL": infra.amqp_url,
            "TRADEWIND_REDIS_URL": infra.redis_url,
            "TRADEWIND_ORDERS_DATABASE_URL": url,
            "TRADEWIND_ORDERS_DATABASE_POOL_SIZE": "4",
            "TRADEWIND_ORDERS_API_POOL_SIZE": "1",
            "TRADEWIND_ORDERS_INITIAL_CASH": TEST_INITIAL_CASH,
            "TRADEWIND_RETRY_DELAYS_MS": json.dumps([50, 100, 200]),
            "TRADEWIND_MAX_DELIVERY_ATTEMPTS": "20",
        },
        pool,
    )
    try:
        yield deployment
    finally:
        for process in deployment.processes:
            process.kill()
        await pool.close()
        await delete_namespace_of(deployment.env)


def command(data: Contract, account_id: str) -> CloudEvent:
    return new_event(
        source="/tests/gateway", data=data, event_type=data.TYPE, account_id=account_id
    )


def place(account_id: str, *, unchecked: bool = False, **fields: Any) -> CloudEvent:
    """``unchecked``: built as a publisher that skips the contract's validation would."""
    values: dict[str, Any] = {
        "order_id": uuid.uuid4(),
        "account_id": account_id,
        "symbol": SYMBOL,
        "side": Side.BUY,
        "type": OrderType.LIMIT,
        "qty": Decimal(10),
        "limit_price": Decimal(100),
        "time_in_force": TimeInForce.GTC,
        "submitted_at": utc_now(),
    }
    values.update(fields)
    data = PlaceOrder.model_construct(**values) if unchecked else PlaceOrder(**values)
    return command(data, account_id)


async def order_ids(pool: asyncpg.Pool, account_id: str) -> list[uuid.UUID]:
    rows = await pool.fetch("SELECT id FROM orders WHERE account_id = $1", account_id)
    return [row["id"] for row in rows]


async def event_counts(pool: asyncpg.Pool, account_id: str) -> dict[tuple[str, str], int]:
    """(order id, event type) -> how many such events the outbox holds for the account."""
    rows = await pool.fetch("SELECT body FROM outbox")
    counts: dict[tuple[str, str], int] = {}
    for row in rows:
        event = CloudEvent.from_json(row["body"])
        if event.accountid == account_id and event.subject is not None:
            key = (event.subject, event.type)
            counts[key] = counts.get(key, 0) + 1
    return counts


async def waiting_on_a_lock(pool: asyncpg.Pool, statement: str) -> bool:
    count = await pool.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock' AND query LIKE $1",
        f"%{statement}%",
    )
    return bool(count)


async def until(predicate: Callable[[], Any], message: str, timeout: float = 30) -> None:
    async def probe() -> bool:
        return bool(await predicate())

    await eventually(probe, timeout=timeout, message=message)


@contextlib.asynccontextmanager
async def batch_held_at_its_write(
    orders: Orders, commands: list[CloudEvent]
) -> AsyncIterator[None]:
    """Publish ``commands`` with the outbox locked, so that the first batch's one write statement
    waits: inside, a batch is in flight, its transaction open, nothing of it committed. The lock
    goes on leaving."""
    async with orders.pool.acquire() as blocker:
        transaction = blocker.transaction()
        await transaction.start()
        await blocker.execute("LOCK TABLE outbox IN SHARE ROW EXCLUSIVE MODE")
        try:
            await orders.publish(*commands)
            await until(
                lambda: waiting_on_a_lock(orders.pool, "INSERT INTO orders"),
                "no batch reached its write",
            )
            yield
        finally:
            await transaction.rollback()


async def test_a_process_killed_before_its_batch_commits_loses_and_doubles_nothing(
    orders: Orders,
) -> None:
    first = await orders.start()
    account = f"crash-{uuid.uuid4().hex[:8]}"
    places = [place(account) for _ in range(60)]
    async with batch_held_at_its_write(orders, places):
        first.stop(signal.SIGKILL)

    await orders.start()

    async def all_placed() -> bool:
        return len(await order_ids(orders.pool, account)) == len(places)

    await until(all_placed, "the redelivered commands were not all placed")
    counts = await event_counts(orders.pool, account)
    assert sorted(counts.values()) == [1] * len(places), "one order.accepted per order"
    assert {event_type for _, event_type in counts} == {"order.accepted"}
    claimed = await orders.pool.fetchval(
        "SELECT count(*) FROM inbox WHERE consumer = 'orders.commands' AND message_id = ANY($1)",
        [command.id for command in places],
    )
    assert claimed == len(places)
    assert await orders.parked() == []


async def test_a_poison_command_is_parked_alone_and_its_batch_goes_through(
    orders: Orders,
) -> None:
    await orders.start()
    account = f"poison-{uuid.uuid4().hex[:8]}"
    good = [place(account) for _ in range(30)]
    # A NUL cannot be stored in PostgreSQL text. The contract refuses it (the gateway never
    # publishes one); a publisher that skips the contract gets its command parked, alone.
    poison = place(account, unchecked=True, client_order_id="bad\x00id")

    await orders.publish(*good[:15], poison, *good[15:])

    async def all_good_placed() -> bool:
        return len(await order_ids(orders.pool, account)) == len(good)

    await until(all_good_placed, "the good commands were not placed")
    await until(lambda: _parked_is(orders, [poison.id]), "the poison was not parked alone")
    assert set(await order_ids(orders.pool, account)) == {
        uuid.UUID(command.data["order_id"]) for command in good
    }


async def _parked_is(orders: Orders, expected: list[str]) -> bool:
    return await orders.parked() == expected


async def test_commands_of_one_order_apply_in_order_with_two_processes_consuming(
    orders: Orders,
) -> None:
    await orders.start()
    await orders.start()
    account = f"order-{uuid.uuid4().hex[:8]}"
    sequences = []
    for _ in range(40):
        placing = place(account)
        order_id = uuid.UUID(placing.data["order_id"])
        replacement = uuid.uuid4()
        replacing = command(
            ReplaceOrder(
                order_id=order_id,
                new_order_id=replacement,
                account_id=account,
                qty=Decimal(7),
                requested_at=utc_now(),
            ),
            account,
        )
        canceling = command(
            CancelOrder(order_id=replacement, account_id=account, requested_at=utc_now()),
            account,
        )
        sequences.append((order_id, replacement))
        await orders.publish(placing, replacing, canceling)

    async def all_decided() -> bool:
        statuses = dict(
            await orders.pool.fetch("SELECT id, status FROM orders WHERE account_id = $1", account)
        )
        return all(
            statuses.get(old) == "replaced" and statuses.get(new) == "canceled"
            for old, new in sequences
        )

    await until(all_decided, "not every place -> replace -> cancel chain was applied", timeout=60)
    counts = await event_counts(orders.pool, account)
    for old, new in sequences:
        assert counts[(str(old), "order.accepted")] == 1
        assert counts[(str(old), "order.replaced")] == 1
        assert counts[(str(new), "order.canceled")] == 1
    assert len(counts) == 3 * len(sequences), "no refusals: every command met its order"
    assert await orders.parked() == []


async def _queued_commands(orders: Orders) -> list[tuple[str, bool]]:
    """(message id, redelivered) of every command waiting in the queue; they stay queued."""
    connection = await aio_pika.connect(orders.infra.amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(f"{orders.namespace}.orders.commands", passive=True)
        waiting = []
        while (message := await queue.get(no_ack=False, fail=False)) is not None:
            waiting.append((message.message_id or "", bool(message.redelivered)))
        return waiting  # unacked: back in the queue when the connection closes


async def test_sigterm_finishes_what_was_taken_flushes_the_outbox_and_leaves_the_rest(
    orders: Orders,
) -> None:
    first = await orders.start()
    assert first.process is not None
    account = f"term-{uuid.uuid4().hex[:8]}"
    places = [place(account) for _ in range(600)]
    async with batch_held_at_its_write(orders, places):
        # A batch is in flight when the stop begins.
        first.process.send_signal(signal.SIGTERM)
        # The HTTP server closes first, then the consumers are cancelled (which it logs); only
        # then may the batch go on.
        await until(first.refuses_connections, "the server kept listening")
        await until(
            lambda: asyncio.sleep(0, "consumers cancelled" in first.tail()),
            "the consumers were not cancelled",
        )
    exit_code = await asyncio.to_thread(first.process.wait, 60)
    # uvicorn re-raises the signal once it has shut down, so a clean stop ends by SIGTERM.
    assert exit_code in (0, -signal.SIGTERM), first.tail()
    assert "Application shutdown complete" in first.tail(), first.tail()

    handled = set(await order_ids(orders.pool, account))
    assert handled, "the batch in flight was not finished"
    unpublished = await orders.pool.fetchval(
        "SELECT count(*) FROM outbox WHERE published_at IS NULL"
    )
    assert unpublished == 0, "the outbox was not flushed before the process exited"
    waiting = await _queued_commands(orders)
    assert waiting, "the process took every command: nothing shows the rest was left alone"
    assert not [message_id for message_id, redelivered in waiting if redelivered], (
        "commands the process took went back to the queue unfinished"
    )
    handled_ids = {
        command.id for command in places if uuid.UUID(command.data["order_id"]) in handled
    }
    assert handled_ids.isdisjoint(message_id for message_id, _ in waiting), "taken twice"
    assert len(handled) + len(waiting) == len(places), "a command was lost"

    await orders.start()

    async def all_placed() -> bool:
        return len(await order_ids(orders.pool, account)) == len(places)

    await until(all_placed, "the commands left in the queue were not all placed")
    counts = await event_counts(orders.pool, account)
    assert sorted(counts.values()) == [1] * len(places), "one order.accepted per order"
