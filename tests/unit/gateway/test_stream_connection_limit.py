"""The stream limit's own bookkeeping, and what it admits when Redis cannot count.

Counting across gateways is Redis's (tests/integration/gateway/test_stream_connections.py); here
a Redis client points at a port nothing listens on, which fails at once as a Redis that is down.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from support.services import free_port
from tradewind.gateway.adapters.stream_limits import (
    STREAM_ADMISSIONS,
    OpenStreams,
    StreamConnectionLimit,
    StreamSlot,
    connections_key,
)

A1 = StreamSlot("ns:stream-connections:{a}:key_1", "c1")
A2 = StreamSlot("ns:stream-connections:{a}:key_1", "c2")
B1 = StreamSlot("ns:stream-connections:{b}:key_2", "c3")


def test_open_streams_are_counted_per_key() -> None:
    streams = OpenStreams()
    for slot in (A1, A2, B1):
        streams.add(slot)
    assert streams.count(A1.redis_key) == 2
    assert streams.count(B1.redis_key) == 1
    assert streams.by_key() == {A1.redis_key: ["c1", "c2"], B1.redis_key: ["c3"]}


def test_a_key_whose_last_stream_closed_is_forgotten() -> None:
    streams = OpenStreams()
    streams.add(A1)
    streams.add(B1)
    streams.remove(A1)
    streams.remove(A1)  # a second release changes nothing
    assert streams.count(A1.redis_key) == 0
    assert streams.by_key() == {B1.redis_key: ["c3"]}


def test_the_renewal_gets_a_copy_that_later_changes_do_not_touch() -> None:
    streams = OpenStreams()
    streams.add(A1)
    snapshot = streams.by_key()
    streams.add(A2)
    streams.remove(A1)
    assert snapshot == {A1.redis_key: ["c1"]}


def test_a_keys_set_is_named_by_namespace_account_and_key() -> None:
    # The account in braces: a Redis Cluster hash tag, as the rate-limit counters use.
    assert connections_key("tw", "acme", "key_9") == "tw:stream-connections:{acme}:key_9"


@pytest.fixture
async def unreachable_redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=1)
    yield client
    await client.aclose()


def _admitted_by_process() -> float:
    return float(STREAM_ADMISSIONS.labels(outcome="admitted", counted_by="process")._value.get())


async def test_without_redis_a_process_admits_up_to_the_limit_per_key(
    unreachable_redis: Redis,
) -> None:
    limit = StreamConnectionLimit(unreachable_redis, "ns", limit=2, lease_s=30)
    before = _admitted_by_process()
    first = await limit.acquire("a", "key_1")
    second = await limit.acquire("a", "key_1")
    assert first is not None
    assert second is not None
    assert await limit.acquire("a", "key_1") is None
    # Another key has its own bound.
    assert await limit.acquire("b", "key_2") is not None
    assert _admitted_by_process() - before == 3


async def test_without_redis_a_closed_stream_frees_its_slot_in_the_process(
    unreachable_redis: Redis,
) -> None:
    limit = StreamConnectionLimit(unreachable_redis, "ns", limit=1, lease_s=30)
    held = await limit.acquire("a", "key_1")
    assert held is not None
    assert await limit.acquire("a", "key_1") is None
    await limit.release(held)  # Redis cannot be told: logged, not raised
    assert await limit.acquire("a", "key_1") is not None


async def test_a_renewal_that_cannot_reach_redis_raises_for_the_loop_to_report(
    unreachable_redis: Redis,
) -> None:
    limit = StreamConnectionLimit(unreachable_redis, "ns", limit=1, lease_s=30)
    await limit.renew()  # nothing open: nothing to send
    assert await limit.acquire("a", "key_1") is not None
    with pytest.raises(RedisError):
        await limit.renew()


def test_leases_are_renewed_three_times_per_lease() -> None:
    limit = StreamConnectionLimit(Redis(), "ns", limit=1, lease_s=30)
    assert limit.renew_every_s == 10
