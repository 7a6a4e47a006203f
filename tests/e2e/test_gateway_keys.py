"""API keys kept in gateway memory: a revocation or a change of scopes applies at once everywhere.

Two gateway processes serve the same keys. Each test first makes sure every gateway answers from
memory (its key-check metric says so), then changes the key (in the gateways' database, announced
through Redis, as the CLI and the key routes do) and sends the next request.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis

from e2e.harness import System, auth
from support.polling import eventually
from support.services import ServiceProcess
from tradewind.gateway.adapters.key_cache import listener_name
from tradewind.gateway.domain.auth_model import IssuedKey
from tradewind.gateway.handlers.api_keys import ApiKeyStore

pytestmark = pytest.mark.e2e

LIST_ONE = "/api/v1/orders?limit=1"


@pytest.fixture(scope="module")
async def second_gateway(system: System) -> AsyncIterator[ServiceProcess]:
    second = system.another_gateway("gateway-second")
    try:
        await second.wait_ready()
        yield second
    finally:
        second.stop()


@pytest.fixture
async def gateways(
    client: httpx.AsyncClient, second_gateway: ServiceProcess
) -> AsyncIterator[list[httpx.AsyncClient]]:
    async with httpx.AsyncClient(base_url=second_gateway.url, timeout=10) as other:
        yield [client, other]


@pytest.fixture
async def keys(system: System) -> AsyncIterator[ApiKeyStore]:
    async with system.key_store() as store:
        yield store


@pytest.fixture
async def redis(system: System) -> AsyncIterator[Redis]:
    client = Redis.from_url(system.infra.redis_url)
    yield client
    await client.aclose()


async def _checks_from_memory(gateway: httpx.AsyncClient) -> float:
    text = (await gateway.get("/metrics")).text
    found = re.search(
        r'^tradewind_gateway_api_key_checks_total\{source="memory"\} (\S+)$', text, re.MULTILINE
    )
    return float(found.group(1)) if found else 0.0


async def _served_from_memory(gateway: httpx.AsyncClient, key: IssuedKey) -> None:
    """Use ``key`` on ``gateway`` until the gateway answers for it from memory."""

    async def from_memory() -> bool:
        before = await _checks_from_memory(gateway)
        response = await gateway.get(LIST_ONE, headers=auth(key.secret))
        assert response.status_code == 200, response.text
        return await _checks_from_memory(gateway) > before

    await eventually(from_memory, timeout=15, message="the gateway never kept the key")


async def test_a_revoked_key_is_refused_by_every_gateway_on_the_next_request(
    gateways: list[httpx.AsyncClient], keys: ApiKeyStore
) -> None:
    for _ in range(5):
        issued = await keys.create("erin")
        for gateway in gateways:
            await _served_from_memory(gateway, issued)
        assert await keys.revoke("erin", issued.key_id)
        for gateway in gateways:
            response = await gateway.get(LIST_ONE, headers=auth(issued.secret))
            assert response.status_code == 401, response.text
            assert response.headers["content-type"] == "application/problem+json"


async def test_a_key_issued_again_with_fewer_scopes_is_held_to_them_on_the_next_request(
    gateways: list[httpx.AsyncClient], keys: ApiKeyStore
) -> None:
    issued = await keys.create("erin")
    for gateway in gateways:
        await _served_from_memory(gateway, issued)
    await keys.create("erin", frozenset({"market:read"}), secret=issued.secret)
    for gateway in gateways:
        response = await gateway.get(LIST_ONE, headers=auth(issued.secret))
        assert response.status_code == 403, response.text


async def test_a_gateway_that_lost_its_subscription_still_refuses_a_revoked_key(
    system: System, gateways: list[httpx.AsyncClient], keys: ApiKeyStore, redis: Redis
) -> None:
    issued = await keys.create("erin")
    for gateway in gateways:
        await _served_from_memory(gateway, issued)
    # Cut every gateway's key-change subscription from the Redis side, then revoke at once: the
    # message is lost, so the gateways must have stopped trusting what they kept.
    listeners = [
        client["id"]
        for client in await redis.client_list(_type="pubsub")
        if client.get("name") == listener_name(system.namespace)
    ]
    assert len(listeners) >= len(gateways)
    for client_id in listeners:
        await redis.client_kill_filter(_id=client_id)
    assert await keys.revoke("erin", issued.key_id)
    for gateway in gateways:
        response = await gateway.get(LIST_ONE, headers=auth(issued.secret))
        assert response.status_code == 401, response.text
    # They subscribe again, and keep keys again.
    fresh = await keys.create("erin")
    for gateway in gateways:
        await _served_from_memory(gateway, fresh)
