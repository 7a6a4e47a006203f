"""The relay's lag and backlog gauges (tradewind_outbox_lag_seconds, which the OutboxLag alert
reads, and tradewind_outbox_backlog, which the health service shows).

PostgreSQL and RabbitMQ are replaced by fakes that answer exactly what a relay pass asks: the
claim query returns rows with their age, as PostgreSQL computes it; the broker confirms or refuses
each message. The claim query itself runs against PostgreSQL in
tests/integration/common/test_outbox.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from prometheus_client import REGISTRY

from tradewind.common.broker import BrokerUnavailable, Outgoing
from tradewind.common.outbox import OutboxRelay

Row = dict[str, Any]


def row(row_id: int, age_s: float) -> Row:
    return {
        "id": row_id,
        "message_id": f"m-{row_id}",
        "message_type": "test.noted",
        "exchange": "t.events",
        "routing_key": "test.noted",
        "body": b"{}",
        "headers": "{}",
        "age_s": age_s,
    }


class FakeConnection:
    def __init__(self, rows: list[Row]) -> None:
        self.rows = rows
        self.counts = 0  # backlog counts asked for

    async def fetchval(self, query: str, cap: int) -> int:
        self.counts += 1
        return min(len(self.rows), cap)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        yield

    async def fetch(self, query: str, limit: int) -> list[Row]:
        return self.rows[:limit]

    async def execute(self, query: str, *args: object) -> None:
        return None


class FakePool:
    def __init__(self, rows: list[Row]) -> None:
        self.connection = FakeConnection(rows)

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[FakeConnection]:
        yield self.connection


class FakeBroker:
    def __init__(self, *, up: bool) -> None:
        self.up = up

    async def publish_many(self, messages: Sequence[Outgoing]) -> list[Exception | None]:
        return [None if self.up else BrokerUnavailable("down") for _ in messages]


def lag() -> float | None:
    return REGISTRY.get_sample_value("tradewind_outbox_lag_seconds")


def backlog() -> float | None:
    return REGISTRY.get_sample_value("tradewind_outbox_backlog")


def relay(rows: list[Row], *, broker_up: bool = True, batch_size: int = 200) -> OutboxRelay:
    return OutboxRelay(
        pool=FakePool(rows),  # type: ignore[arg-type]
        broker=FakeBroker(up=broker_up),  # type: ignore[arg-type]
        listen_dsn=None,
        batch_size=batch_size,
    )


async def test_lag_is_the_age_of_the_oldest_row_the_pass_claimed() -> None:
    published = await relay([row(1, 2.5), row(2, 7.0), row(3, 0.1)]).publish_pending()

    assert published == 3
    assert lag() == 7.0


async def test_lag_falls_to_zero_when_a_pass_finds_nothing() -> None:
    await relay([row(1, 42.0)]).publish_pending()
    assert lag() == 42.0

    assert await relay([]).publish_pending() == 0
    assert lag() == 0.0


async def test_rows_the_broker_refused_keep_the_lag_up() -> None:
    # The rows stay unpublished, so the next pass claims them again, older: the alert sees the
    # lag grow for as long as the broker refuses them.
    rows = [row(1, 30.0)]
    assert await relay(rows, broker_up=False).publish_pending() == 0
    assert lag() == 30.0

    rows[0]["age_s"] = 95.0
    assert await relay(rows, broker_up=False).publish_pending() == 0
    assert lag() == 95.0


async def test_the_backlog_is_what_a_partial_pass_could_not_publish_without_a_count() -> None:
    rows = [row(1, 3.0), row(2, 2.0)]
    refused = relay(rows, broker_up=False)
    await refused.publish_pending()
    assert backlog() == 2
    assert refused.pool.connection.counts == 0  # type: ignore[attr-defined]

    await relay(rows).publish_pending()
    assert backlog() == 0


async def test_after_a_full_batch_the_backlog_is_counted_at_most_once_per_interval() -> None:
    rows = [row(n, 1.0) for n in range(7)]
    busy = relay(rows, broker_up=False, batch_size=3)

    await busy.publish_pending()
    assert backlog() == 7  # the batch was full: more waited than it claimed
    rows.extend(row(n, 1.0) for n in range(7, 10))
    await busy.publish_pending()

    assert busy.pool.connection.counts == 1  # type: ignore[attr-defined]
    assert backlog() == 7  # kept until the interval is over


async def test_a_pass_that_finds_nothing_clears_the_backlog() -> None:
    await relay([row(1, 1.0)], broker_up=False).publish_pending()
    assert backlog() == 1

    await relay([]).publish_pending()
    assert backlog() == 0
