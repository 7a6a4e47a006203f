"""The Redis cache of key states only ever moves forward: a stale read cannot undo a revocation."""

from __future__ import annotations

from redis.asyncio import Redis

from tradewind.gateway.adapters.key_states import KeyState, SharedKeyCache, key_changes_channel
from tradewind.gateway.domain.auth_model import Principal
from tradewind.gateway.domain.rate_limits import Budget

KEY_ID = "key_0123456789abcdef"
ACTIVE = KeyState(
    1,
    "d" * 64,
    Principal(
        account_id="acme",
        key_id=KEY_ID,
        scopes=frozenset({"orders:read"}),
        rate_budgets=(Budget("orders", 200, 60), Budget("reads", 0, 3600)),
    ),
)
REVOKED = KeyState(2, "d" * 64, None)


async def test_an_older_state_never_replaces_a_newer_one(redis: Redis, namespace: str) -> None:
    cache = SharedKeyCache(redis, namespace, ttl_s=60)
    await cache.store(KEY_ID, REVOKED, announce=True)
    # A lookup that read the database before the revoke committed, and writes late.
    await cache.store(KEY_ID, ACTIVE, announce=False)
    assert await cache.get(KEY_ID) == REVOKED
    assert 0 < await redis.ttl(f"{namespace}:apikey:{KEY_ID}") <= 60


async def test_a_newer_state_replaces_an_older_one_and_is_announced(
    redis: Redis, namespace: str
) -> None:
    cache = SharedKeyCache(redis, namespace, ttl_s=60)
    await cache.store(KEY_ID, ACTIVE, announce=False)
    assert await cache.get(KEY_ID) == ACTIVE  # budgets and scopes survive the round trip
    async with redis.pubsub() as pubsub:
        await pubsub.subscribe(key_changes_channel(namespace))
        await pubsub.get_message(timeout=1.0)  # the subscription's confirmation
        await cache.store(KEY_ID, REVOKED, announce=True)
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5.0)
    assert message is not None
    assert message["data"] == KEY_ID.encode()
    assert await cache.get(KEY_ID) == REVOKED
