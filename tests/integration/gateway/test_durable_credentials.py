"""Keys live in PostgreSQL; Redis only caches them. Losing Redis's data costs a cache miss, and a
credentials database that cannot be read makes the gateway degraded, not silent."""

from __future__ import annotations

import asyncio

import httpx
from redis.asyncio import Redis
from sqlalchemy.engine import make_url

from integration.gateway.harness import Gateway, GatewayFactory, bearer
from support.infra import Infra
from support.polling import eventually
from support.tcp_proxy import TcpProxy
from tradewind.gateway.adapters.key_cache import listener_name
from tradewind.gateway.handlers.api_keys import ApiKeyStore
from tradewind.gateway.metrics import KEY_FROM_DATABASE

KEYS = 20


async def _lose_everything(redis: Redis, namespace: str) -> int:
    """What a Redis restart without persistence does to this namespace: every key gone, every
    subscriber disconnected."""
    deleted = 0
    async for key in redis.scan_iter(match=f"{namespace}:*", count=1000):
        deleted += await redis.delete(key)
    for client in await redis.client_list(_type="pubsub"):
        if client.get("name") == listener_name(namespace):
            await redis.client_kill_filter(_id=client["id"])
    return deleted


async def test_every_key_still_authenticates_after_redis_loses_everything_mid_load(
    gateway: Gateway, keys: ApiKeyStore, redis: Redis, namespace: str, account: str
) -> None:
    issued = [await keys.create(account) for _ in range(KEYS)]
    answers: list[int] = []
    stop = asyncio.Event()

    async def load(secret: str) -> None:
        while not stop.is_set():
            response = await gateway.client.get("/api/v1/auth/me", headers=bearer(secret))
            answers.append(response.status_code)
            # A request answered from memory never suspends: let the loop serve the others.
            await asyncio.sleep(0)

    async def answered(at_least: int) -> bool:
        return len(answers) >= at_least

    workers = [asyncio.create_task(load(key.secret)) for key in issued]
    try:
        await eventually(lambda: answered(10 * KEYS), message="no load")
        from_database_before = KEY_FROM_DATABASE._value.get()
        assert await _lose_everything(redis, namespace) >= KEYS  # the cached keys were there
        after_loss = len(answers)
        await eventually(lambda: answered(after_loss + 10 * KEYS), message="load stopped")
    finally:
        stop.set()
        await asyncio.gather(*workers)

    assert set(answers) == {200}, f"answers during the loss: {sorted(set(answers))}"
    # The keys came back from PostgreSQL, and are cached in Redis again.
    assert KEY_FROM_DATABASE._value.get() - from_database_before >= KEYS
    for key in issued:
        assert await redis.exists(f"{namespace}:apikey:{key.key_id}"), key.key_id
        response = await gateway.client.get("/api/v1/auth/me", headers=bearer(key.secret))
        assert response.json()["key_id"] == key.key_id


async def test_a_revocation_outlives_the_loss_of_redis(
    gateway: Gateway, keys: ApiKeyStore, redis: Redis, namespace: str, account: str
) -> None:
    issued = await keys.create(account)
    assert (await gateway.client.get("/api/v1/auth/me", headers=bearer(issued.secret))).is_success
    assert await keys.revoke(account, issued.key_id)
    await _lose_everything(redis, namespace)
    response = await gateway.client.get("/api/v1/auth/me", headers=bearer(issued.secret))
    assert response.status_code == 401


async def test_an_unknown_key_is_refused_and_not_cached(
    gateway: Gateway, redis: Redis, namespace: str
) -> None:
    response = await gateway.client.get("/api/v1/auth/me", headers=bearer("tw_not-a-key"))
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert [key async for key in redis.scan_iter(match=f"{namespace}:apikey:*")] == []


async def _ready(client: httpx.AsyncClient) -> dict[str, object]:
    response = await client.get("/health/ready")
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def test_readiness_is_degraded_while_the_credentials_database_cannot_be_read(
    infra: Infra,
    gateway_factory: GatewayFactory,
    gateway_database: str,
    keys: ApiKeyStore,
    redis: Redis,
    namespace: str,
    account: str,
) -> None:
    target = make_url(gateway_database)
    proxy = await TcpProxy(target.host or "127.0.0.1", target.port or 5432).start()
    through_proxy = target.set(host="127.0.0.1", port=proxy.port).render_as_string(
        hide_password=False
    )
    cached, uncached = await keys.create(account), await keys.create(account)
    # Creating a key caches it; this one must be read from the database.
    assert await redis.delete(f"{namespace}:apikey:{uncached.key_id}") == 1
    try:
        async with gateway_factory(database_url=through_proxy) as gateway:
            assert (await _ready(gateway.client))["status"] == "up"
            me = await gateway.client.get("/api/v1/auth/me", headers=bearer(cached.secret))
            assert me.status_code == 200

            proxy.cut()

            async def degraded() -> dict[str, object] | None:
                body = await _ready(gateway.client)
                return body if body["status"] == "degraded" else None

            body = await eventually(degraded, message="readiness never showed the loss")
            checks = body["checks"]
            assert isinstance(checks, dict)
            # A generic reason: no exception text, no address.
            assert checks["credentials"] == {
                "status": "degraded",
                "detail": "the credentials store cannot be read",
            }
            # A key cached in Redis still works; one that must be read from the database is a
            # 503 problem, never a 401 (the key is valid) nor a 500.
            still = await gateway.client.get("/api/v1/auth/me", headers=bearer(cached.secret))
            assert still.status_code == 200
            unknown = await gateway.client.get("/api/v1/auth/me", headers=bearer(uncached.secret))
            assert unknown.status_code == 503, unknown.text
            assert unknown.headers["content-type"] == "application/problem+json"
            assert "Retry-After" in unknown.headers

            proxy.restore()

            async def up() -> bool:
                return (await _ready(gateway.client))["status"] == "up"

            await eventually(up, timeout=15, message="readiness never recovered")
            again = await gateway.client.get("/api/v1/auth/me", headers=bearer(uncached.secret))
            assert again.status_code == 200
    finally:
        await proxy.stop()
