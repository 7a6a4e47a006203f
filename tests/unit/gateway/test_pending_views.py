"""Pending order views are written in batches; each caller returns once its own view is stored."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, cast

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from tradewind.gateway.adapters.pending import PendingOrders, WriterStopped
from tradewind.gateway.domain.orders import pending_view, place_command
from tradewind.gateway.domain.schemas import Order, OrderRequest

TTL_S = 600


class FakePipeline:
    def __init__(self, redis: FakeRedis) -> None:
        self.redis = redis
        self.commands: list[tuple[str, str, int]] = []

    async def __aenter__(self) -> FakePipeline:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def set(self, key: str, value: str, ex: int) -> None:
        self.commands.append((key, value, ex))

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        assert raise_on_error is False
        self.redis.in_flight.append([key for key, _, _ in self.commands])
        await self.redis.open.wait()
        if self.redis.fail_next is not None:
            error, self.redis.fail_next = self.redis.fail_next, None
            raise error
        outcomes: list[Any] = []
        for key, value, ex in self.commands:
            if key in self.redis.refused:
                outcomes.append(ResponseError("OOM command not allowed"))
                continue
            assert ex == TTL_S
            self.redis.stored[key] = value
            outcomes.append(True)
        self.redis.batches.append([key for key, _, _ in self.commands])
        return outcomes


class FakeRedis:
    """Redis as the batch writer uses it; ``open`` holds every pipeline until it is set."""

    def __init__(self) -> None:
        self.stored: dict[str, str] = {}
        self.batches: list[list[str]] = []
        self.in_flight: list[list[str]] = []
        self.refused: set[str] = set()
        self.fail_next: Exception | None = None
        self.open = asyncio.Event()
        self.open.set()

    def pipeline(self, transaction: bool = True) -> FakePipeline:
        assert transaction is False
        return FakePipeline(self)


def order(coid: str) -> Order:
    request = OrderRequest.model_validate(
        {"symbol": "AAPL", "side": "buy", "type": "market", "qty": "1", "client_order_id": coid}
    )
    return pending_view(place_command(request, account_id="alice", now=datetime.now(UTC)))


async def remember(views: PendingOrders, view: Order) -> None:
    await views.remember("alice", view.id, view.model_dump_json())


def key(view: Order) -> str:
    return f"ns:pending-order:alice:{view.id}"


@pytest.fixture
async def redis() -> FakeRedis:
    return FakeRedis()


@pytest.fixture
async def pending(redis: FakeRedis) -> AsyncIterator[PendingOrders]:
    views = PendingOrders(cast(Redis, redis), "ns", TTL_S)
    writer = asyncio.create_task(views.write_batches())
    yield views
    writer.cancel()
    await asyncio.gather(writer, return_exceptions=True)


async def until(condition: Any) -> None:
    for _ in range(1_000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never met")


async def test_views_remembered_while_a_write_is_in_flight_share_the_next_pipeline(
    redis: FakeRedis, pending: PendingOrders
) -> None:
    first, *others = [order(f"c{n}") for n in range(4)]
    redis.open.clear()
    remembering_first = asyncio.create_task(remember(pending, first))
    await until(lambda: redis.in_flight)
    remembering_others = [asyncio.create_task(remember(pending, o)) for o in others]
    await asyncio.sleep(0)  # one scheduler pass: they queue up behind the write in flight
    assert not remembering_first.done()  # its view is not stored yet
    redis.open.set()
    await asyncio.gather(remembering_first, *remembering_others)
    assert redis.batches == [[key(first)], [key(o) for o in others]]
    stored = json.loads(redis.stored[key(first)])
    assert stored == json.loads(first.model_dump_json())


async def test_a_refused_view_fails_only_its_own_caller(
    redis: FakeRedis, pending: PendingOrders
) -> None:
    refused, accepted = order("refused"), order("accepted")
    redis.refused.add(key(refused))
    redis.open.clear()
    outcomes = asyncio.gather(
        remember(pending, refused),
        remember(pending, accepted),
        return_exceptions=True,
    )
    await until(lambda: redis.in_flight)
    redis.open.set()
    failed, succeeded = await outcomes
    assert isinstance(failed, ResponseError)
    assert succeeded is None
    assert key(accepted) in redis.stored


async def test_a_failed_pipeline_fails_its_callers_and_the_next_one_is_written(
    redis: FakeRedis, pending: PendingOrders
) -> None:
    redis.fail_next = RedisConnectionError("connection reset")
    with pytest.raises(RedisConnectionError):
        await remember(pending, order("lost"))
    later = order("later")
    await remember(pending, later)
    assert list(redis.stored) == [key(later)]


async def test_once_the_writer_stopped_waiting_and_new_callers_are_refused(
    redis: FakeRedis,
) -> None:
    views = PendingOrders(cast(Redis, redis), "ns", TTL_S)
    writer = asyncio.create_task(views.write_batches())
    redis.open.clear()
    in_flight = asyncio.create_task(remember(views, order("in flight")))
    await until(lambda: redis.in_flight)
    queued = asyncio.create_task(remember(views, order("queued")))
    await asyncio.sleep(0)  # one scheduler pass: it queues up behind the write in flight
    writer.cancel()
    await asyncio.gather(writer, return_exceptions=True)
    for caller in (in_flight, queued):
        with pytest.raises(WriterStopped):
            await caller
    with pytest.raises(WriterStopped):
        await remember(views, order("late"))
