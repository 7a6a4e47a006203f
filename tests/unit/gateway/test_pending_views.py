"""Pending order views are written in batches; each caller returns once its own view is stored."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, cast

import hiredis
import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from tradewind.gateway.adapters.pending import PendingOrders, WriterStopped
from tradewind.gateway.domain.orders import pending_view, place_command
from tradewind.gateway.domain.schemas import Order, OrderRequest

TTL_S = 600


class FakeConnection:
    """The connection the batch sender holds: a batch is written whole, then read reply by reply."""

    socket_timeout = 2.0

    def __init__(self, redis: FakeRedis) -> None:
        self.redis = redis
        self.replies: list[Any] = []

    async def send_packed_command(self, packed: bytes, check_health: bool = True) -> None:
        # What Redis reads: the batch in its protocol, one array of bulk strings per command.
        reader = hiredis.Reader(encoding="utf-8")
        reader.feed(packed)
        commands: list[list[str]] = []
        while (command := reader.gets()) is not False:
            commands.append(command)
        keys = [command[1] for command in commands]
        self.redis.in_flight.append(keys)
        await self.redis.open.wait()
        if self.redis.fail_next is not None:
            error, self.redis.fail_next = self.redis.fail_next, None
            raise error
        for name, key, value, ex_flag, ex in commands:
            assert (name, ex_flag) == ("SET", "EX")
            if key in self.redis.refused:
                self.replies.append(ResponseError("OOM command not allowed"))
                continue
            assert ex == str(TTL_S)
            self.redis.stored[key] = value
            self.replies.append(b"OK")
        self.redis.batches.append(keys)

    async def read_response(self, timeout: float | None = None) -> Any:
        reply = self.replies.pop(0)
        if isinstance(reply, ResponseError):
            raise reply
        return reply

    async def disconnect(self, nowait: bool = False) -> None:
        self.replies.clear()


class FakePool:
    def __init__(self, redis: FakeRedis) -> None:
        self.connection = FakeConnection(redis)

    async def get_connection(self) -> FakeConnection:
        return self.connection

    async def ensure_connection(self, connection: FakeConnection) -> None:
        assert connection is self.connection

    async def release(self, connection: FakeConnection) -> None:
        assert connection is self.connection


class FakeRedis:
    """Redis as the batch sender uses it; ``open`` holds every batch until it is set."""

    def __init__(self) -> None:
        self.stored: dict[str, str] = {}
        self.batches: list[list[str]] = []
        self.in_flight: list[list[str]] = []
        self.refused: set[str] = set()
        self.fail_next: Exception | None = None
        self.open = asyncio.Event()
        self.open.set()
        self.connection_pool = FakePool(self)


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
