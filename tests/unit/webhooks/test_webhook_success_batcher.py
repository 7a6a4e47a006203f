"""Successes are written in batches; a failed write fails its waiters, who retry on their own."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest

from tradewind.webhooks.adapters.records import DeliveryJob, Success
from tradewind.webhooks.adapters.success_batcher import SuccessBatcher


class FakeConnection:
    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.fail_next = False
        self.lost: set[int] = set()
        self.release = asyncio.Event()
        self.release.set()
        self.entered = asyncio.Event()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        yield

    async def fetch(self, _sql: str, delivery_ids: list[int], *_args: Any) -> list[dict[str, int]]:
        self.entered.set()
        await self.release.wait()
        if self.fail_next:
            self.fail_next = False
            raise ConnectionError("database went away")
        self.batches.append(delivery_ids)
        return [{"delivery_id": i} for i in delivery_ids if i not in self.lost]


class FakePool:
    def __init__(self, connection: FakeConnection) -> None:
        self.connection = connection

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[FakeConnection]:
        yield self.connection


def success(delivery_id: int) -> Success:
    job = DeliveryJob(
        delivery_id=delivery_id,
        lease_token="t",
        message_id=f"msg_{delivery_id}",
        endpoint_id="ep_1",
        account_id="acc",
        event_id="e",
        event_type="order.accepted",
        url="http://127.0.0.1/",
        payload=b"{}",
        trace_headers={},
        secret="whsec_x",
        previous_secret=None,
        previous_secret_expires_at=None,
        attempt_number=1,
        attempt_in_round=1,
        endpoint_was_healthy=True,
    )
    return Success(job, 200, datetime.now(UTC), 3, "ok")


@pytest.fixture
def connection() -> FakeConnection:
    return FakeConnection()


@pytest.fixture
async def batcher(connection: FakeConnection) -> AsyncIterator[SuccessBatcher]:
    started = SuccessBatcher(FakePool(connection))  # type: ignore[arg-type]
    started.start()
    yield started
    await started.stop()


async def test_successes_finishing_during_a_write_share_the_next_one(
    batcher: SuccessBatcher, connection: FakeConnection
) -> None:
    connection.release.clear()
    first = asyncio.create_task(batcher.record(success(1)))
    await connection.entered.wait()  # the first write is under way
    rest = [asyncio.create_task(batcher.record(success(i))) for i in range(2, 6)]
    connection.release.set()
    assert await first is True
    assert await asyncio.gather(*rest) == [True] * 4
    assert connection.batches == [[1], [2, 3, 4, 5]]


async def test_a_lost_lease_is_reported(
    batcher: SuccessBatcher, connection: FakeConnection
) -> None:
    connection.lost = {2}
    results = await asyncio.gather(batcher.record(success(1)), batcher.record(success(2)))
    assert list(results) == [True, False]


async def test_a_failed_write_fails_its_waiters_and_the_batcher_goes_on(
    batcher: SuccessBatcher, connection: FakeConnection
) -> None:
    connection.fail_next = True
    with pytest.raises(ConnectionError):
        await batcher.record(success(1))
    assert await batcher.record(success(1)) is True
