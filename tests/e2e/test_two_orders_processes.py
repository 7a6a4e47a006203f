"""Two orders processes on the same queues: quotes split between them, no order filled twice."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aio_pika
import asyncpg
import httpx
import pytest

from e2e.harness import Spy, System
from e2e.trading import ingest, quote, working_limit_order
from support.polling import eventually
from support.services import ServiceProcess, free_port

pytestmark = pytest.mark.e2e

SYMBOL = "GOOGL"
ORDERS = 20
QTY = Decimal(3)


@pytest.fixture
async def second_orders_process(system: System) -> AsyncIterator[ServiceProcess]:
    port = free_port()
    process = ServiceProcess(
        "orders-2", "tradewind.orders", port, {**system.env, "TRADEWIND_ORDERS_PORT": str(port)}
    ).start()
    try:
        await process.wait_ready()
        yield process
    finally:
        process.stop()


@pytest.fixture
async def orders_db(system: System) -> AsyncIterator[asyncpg.Connection]:
    url = system.env["TRADEWIND_ORDERS_DATABASE_URL"].replace("postgresql+asyncpg", "postgresql")
    connection = await asyncpg.connect(url)
    yield connection
    await connection.close()


async def consumers_of(system: System, queue: str) -> int:
    connection = await aio_pika.connect(system.infra.amqp_url)
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        return declared.declaration_result.consumer_count or 0


async def test_fills_stay_exact_with_two_orders_processes_consuming_quotes(
    system: System,
    client: httpx.AsyncClient,
    second_orders_process: ServiceProcess,
    orders_db: asyncpg.Connection,
    events_spy: Spy,
) -> None:
    assert await consumers_of(system, f"{system.namespace}.orders.quotes") == 2
    account = f"mp-{uuid.uuid4().hex[:8]}"
    key = (await system.create_key(account)).secret

    for _ in range(ORDERS):
        await working_limit_order(client, key, SYMBOL, "buy", str(QTY), "171.00")

    # 40 crossing quotes of 2 shares each, in concurrent batches: both processes take some.
    batches = [
        [quote(SYMBOL, "170.80", "170.90", ask_size="2") for _ in range(5)] for _ in range(8)
    ]
    accepted = await asyncio.gather(*(ingest(system, *batch) for batch in batches))
    last_sequence = max(q["sequence"] for batch in accepted for q in batch)

    async def book_caught_up() -> bool:
        done = await orders_db.fetchval(
            "SELECT last_sequence FROM symbol_books WHERE symbol = $1", SYMBOL
        )
        return bool(done == last_sequence)

    await eventually(book_caught_up, timeout=20, message="quotes not all processed")

    rows = await orders_db.fetch(
        """SELECT o.id, o.qty, o.filled_qty, coalesce(sum(e.qty), 0) AS executed,
                  count(e.id) AS fills
           FROM orders o LEFT JOIN executions e ON e.order_id = o.id
           WHERE o.account_id = $1 GROUP BY o.id""",
        account,
    )
    assert len(rows) == ORDERS
    total_filled = Decimal(0)
    for row in rows:
        assert row["filled_qty"] == row["executed"], "fill figures disagree with executions"
        assert row["filled_qty"] <= row["qty"], "an order was filled beyond its quantity"
        total_filled += row["filled_qty"]
    assert total_filled > 0
    position = await orders_db.fetchval(
        "SELECT qty FROM positions WHERE account_id = $1 AND symbol = $2", account, SYMBOL
    )
    assert position == total_filled

    executions = sum(row["fills"] for row in rows)

    def fill_events() -> Counter[str]:
        # Distinct event ids: delivery is at-least-once, and consumers deduplicate by id.
        fills = {
            event.id: str(event.data["order"]["id"])
            for event in events_spy.events()
            if event.type in {"order.partially_filled", "order.filled"}
            and event.accountid == account
        }
        return Counter(fills.values())

    async def all_fills_published() -> bool:
        return bool(sum(fill_events().values()) >= executions)

    await eventually(all_fills_published, timeout=20)
    # Exactly one fill event per execution, whichever process made it.
    events: dict[str, Any] = fill_events()
    assert events == {str(row["id"]): row["fills"] for row in rows if row["fills"]}
