"""A key's limit on open streams holds across gateway processes sharing Redis: a closed stream
frees its slot at once, a dead gateway's slots when their leases end, and while Redis is down each
process admits up to the limit on its own."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import cast

import pytest
from redis.asyncio import Redis

from integration.gateway.processes import GatewayProcesses
from support.polling import eventually
from support.redis_server import RedisServer
from support.services import ServiceProcess
from support.streams import Client, Refusal, attempt
from tradewind.gateway.adapters.stream_limits import connections_key
from tradewind.gateway.domain.auth_model import IssuedKey
from tradewind.gateway.handlers.api_keys import ApiKeyStore, open_key_store

LIMIT = 2
AT_LIMIT = Refusal("too_many_connections", 1008)


class Streams:
    """The test's open streams, closed at its end whatever happened."""

    def __init__(self) -> None:
        self.open: list[Client] = []

    async def admitted(self, gateway: ServiceProcess, key: IssuedKey) -> Client:
        outcome = await attempt(gateway, key.secret)
        assert isinstance(outcome, Client), f"refused: {outcome}"
        self.open.append(outcome)
        return outcome

    async def close(self, client: Client) -> None:
        await client.ws.close()
        self.open.remove(client)

    async def close_all(self) -> None:
        for client in self.open:
            with contextlib.suppress(Exception):
                await client.ws.close()


@pytest.fixture
async def streams() -> AsyncIterator[Streams]:
    held = Streams()
    try:
        yield held
    finally:
        await held.close_all()


async def refused(gateway: ServiceProcess, key: IssuedKey) -> Refusal:
    outcome = await attempt(gateway, key.secret)
    if isinstance(outcome, Client):
        await outcome.ws.close()
        raise AssertionError("a stream over the key's limit was admitted")
    return outcome


async def two_gateways(processes: GatewayProcesses, **settings: str) -> list[ServiceProcess]:
    limited = {"TRADEWIND_GATEWAY_STREAM_MAX_CONNECTIONS_PER_KEY": str(LIMIT), **settings}
    return list(
        await asyncio.gather(
            processes.start("gateway-a", **limited), processes.start("gateway-b", **limited)
        )
    )


def slots_of(namespace: str, account: str, key: IssuedKey) -> str:
    return connections_key(namespace, account, key.key_id)


async def test_a_keys_limit_holds_across_gateways(
    gateway_processes: GatewayProcesses,
    keys: ApiKeyStore,
    streams: Streams,
    redis: Redis,
    namespace: str,
    account: str,
) -> None:
    a, b = await two_gateways(gateway_processes)
    key, other_key = await keys.create(account), await keys.create(account)
    await streams.admitted(a, key)
    await streams.admitted(b, key)

    # Each gateway holds one stream of the key, under the limit on its own: together at it.
    assert await refused(a, key) == AT_LIMIT
    assert await refused(b, key) == AT_LIMIT
    assert await redis.zcard(slots_of(namespace, account, key)) == LIMIT
    # The limit is the key's, not the account's.
    await streams.admitted(a, other_key)


async def test_a_closed_stream_frees_its_slot_on_every_gateway_at_once(
    gateway_processes: GatewayProcesses,
    keys: ApiKeyStore,
    streams: Streams,
    redis: Redis,
    namespace: str,
    account: str,
) -> None:
    # Leases far longer than the test: only the release can free the slot in time.
    a, b = await two_gateways(gateway_processes, TRADEWIND_GATEWAY_STREAM_CONNECTION_LEASE_S="300")
    key = await keys.create(account)
    on_a = await streams.admitted(a, key)
    await streams.admitted(b, key)
    assert await refused(b, key) == AT_LIMIT

    await streams.close(on_a)

    async def one_slot_taken() -> bool:
        return await redis.zcard(slots_of(namespace, account, key)) == 1

    # The gateway releases the slot once it has seen the close, a few ms after the client did.
    await eventually(one_slot_taken, timeout=2, message="the closed stream's slot stayed taken")
    await streams.admitted(b, key)


async def test_a_dead_gateways_slots_are_freed_when_their_leases_end(
    gateway_processes: GatewayProcesses,
    keys: ApiKeyStore,
    streams: Streams,
    redis: Redis,
    namespace: str,
    account: str,
) -> None:
    lease_s = 3.0
    survivor, doomed = await two_gateways(
        gateway_processes, TRADEWIND_GATEWAY_STREAM_CONNECTION_LEASE_S=str(lease_s)
    )
    key = await keys.create(account)
    for _ in range(LIMIT):
        await streams.admitted(doomed, key)
    admitted_by_ms = await _redis_now_ms(redis)

    async def renewed() -> bool:
        # Admission set each lease to end by admitted_by_ms + lease; only a renewal moves it on.
        members = await redis.zrange(slots_of(namespace, account, key), 0, -1, withscores=True)
        expiries = [score for _, score in cast(list[tuple[bytes, float]], members)]
        return len(expiries) == LIMIT and min(expiries) > admitted_by_ms + lease_s * 1000

    await eventually(renewed, timeout=lease_s, message="a live gateway's leases were not renewed")

    doomed.kill()  # SIGKILL: no shutdown code, nothing is released

    assert await refused(survivor, key) == AT_LIMIT

    async def admitted_again() -> Client | None:
        outcome = await attempt(survivor, key.secret)
        if isinstance(outcome, Client):
            streams.open.append(outcome)
            return outcome
        assert outcome == AT_LIMIT
        return None

    await eventually(
        admitted_again,
        timeout=lease_s + 3,
        interval=0.2,
        message="the dead gateway's slots were never freed",
    )


async def _redis_now_ms(redis: Redis) -> float:
    seconds, microseconds = await redis.time()
    return seconds * 1000 + microseconds / 1000


async def test_while_redis_is_down_each_gateway_admits_up_to_the_limit_on_its_own(
    gateway_processes: GatewayProcesses,
    gateway_database: str,
    private_redis: RedisServer,
    streams: Streams,
    namespace: str,
    account: str,
) -> None:
    gateway = await gateway_processes.start(
        "gateway-alone",
        redis_url=private_redis.url,
        TRADEWIND_GATEWAY_STREAM_MAX_CONNECTIONS_PER_KEY=str(LIMIT),
        TRADEWIND_GATEWAY_STREAM_CONNECTION_LEASE_S="3",
    )
    async with open_key_store(gateway_database, private_redis.url, namespace) as store:
        key = await store.create(account)
    first = await streams.admitted(gateway, key)

    private_redis.kill()

    # The key is checked in PostgreSQL; the slots are counted in this process.
    await streams.admitted(gateway, key)
    assert await refused(gateway, key) == AT_LIMIT

    private_redis.start()
    await private_redis.wait_ready()
    fresh = Redis.from_url(private_redis.url)
    try:

        async def counted_in_redis_again() -> bool:
            return await fresh.zcard(slots_of(namespace, account, key)) == LIMIT

        # The restarted Redis knows nothing: the renewals count both open streams in it again.
        await eventually(counted_in_redis_again, timeout=5, message="open streams not recounted")
        assert await refused(gateway, key) == AT_LIMIT
        await streams.close(first)

        async def one_slot_taken() -> bool:
            return await fresh.zcard(slots_of(namespace, account, key)) == LIMIT - 1

        # The gateway releases the slot once it has seen the close, after the client did (a run
        # on a slow machine asked for a stream before it had).
        await eventually(one_slot_taken, timeout=2, message="the closed stream's slot stayed")
        await streams.admitted(gateway, key)
    finally:
        await fresh.aclose()
