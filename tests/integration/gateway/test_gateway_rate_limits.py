"""Rate limits per API key, counted in Redis by every gateway together.

Exactness: four gateways with their own Redis pools take one burst of concurrent orders for one
key; exactly the quota is granted, each grant sees its own remaining count, and exactly that many
commands reach the broker.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from integration.gateway.conftest import LIMIT_ORDER, PlacedCommands, StartGateway
from support.infra import Infra
from support.polling import eventually
from support.tcp_proxy import TcpProxy
from tradewind.gateway.api.admission import Admission
from tradewind.gateway.domain.auth_model import Principal
from tradewind.gateway.domain.rate_limits import BUDGET_NAMES, Budget

ORDERS = "/api/v1/orders"
Issue = Callable[..., Awaitable[dict[str, str]]]
_STATE = re.compile(r'^"(?P<name>[a-z-]+)";r=(?P<r>\d+);t=(?P<t>\d+)$')


def remaining(response: httpx.Response, budget: str) -> tuple[int, int]:
    """(r, t) of the response's RateLimit field, which must name ``budget``."""
    found = _STATE.match(response.headers["ratelimit"])
    assert found is not None, response.headers["ratelimit"]
    assert found["name"] == budget
    return int(found["r"]), int(found["t"])


async def test_four_gateways_grant_exactly_the_quota_of_one_key_between_them(
    gateways: tuple[StartGateway, PlacedCommands], issue_key: Issue
) -> None:
    start, placed = gateways
    quota = 40
    clients = [await start(rate_limit_orders=quota) for _ in range(4)]
    key = await issue_key()

    responses = await asyncio.gather(
        *(clients[n % 4].post(ORDERS, json=LIMIT_ORDER, headers=key) for n in range(4 * quota))
    )

    granted = [r for r in responses if r.status_code == 202]
    refused = [r for r in responses if r.status_code == 429]
    assert len(granted) == quota
    assert len(refused) == 3 * quota, {r.status_code for r in responses}
    assert await placed.count() == quota
    # Every grant saw a count of its own: the script never handed one unit out twice.
    assert sorted(remaining(r, "orders")[0] for r in granted) == list(range(quota))
    for response in responses:
        assert response.headers["ratelimit-policy"] == f'"orders";q={quota};w=60'
        assert 1 <= remaining(response, "orders")[1] <= 60
    for response in refused:
        assert remaining(response, "orders")[0] == 0
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"] == "urn:tradewind:problem:rate-limited"
        assert response.headers["retry-after"] == str(remaining(response, "orders")[1])


async def test_budgets_are_separate_and_a_keys_own_budget_overrides_the_default(
    gateways: tuple[StartGateway, PlacedCommands], issue_key: Issue
) -> None:
    start, placed = gateways
    client = await start(rate_limit_orders=2, rate_limit_reads=50, rate_limit_webhook_tests=1)
    key = await issue_key()
    generous = await issue_key(rate_budgets=(Budget("orders", 5, 30),))

    assert [
        (await client.post(ORDERS, json=LIMIT_ORDER, headers=key)).status_code for _ in "abc"
    ] == [
        202,
        202,
        429,
    ]
    # Reads have a budget of their own (the orders service is down here: the answer is a 503,
    # still counted and told).
    read = await client.get(f"{ORDERS}?limit=1", headers=key)
    assert read.status_code == 503
    assert read.headers["ratelimit-policy"] == '"reads";q=50;w=60'
    assert remaining(read, "reads")[0] == 49
    # Webhook test sends too: one, then refused, while orders of another key go on.
    test = "/api/v1/webhooks/endpoints/ep_1/test"
    assert (await client.post(test, headers=key)).status_code == 503
    second = await client.post(test, headers=key)
    assert second.status_code == 429
    assert second.headers["ratelimit-policy"] == '"webhook-tests";q=1;w=60'

    own = [await client.post(ORDERS, json=LIMIT_ORDER, headers=generous) for _ in range(6)]
    assert [r.status_code for r in own] == [202] * 5 + [429]
    assert own[0].headers["ratelimit-policy"] == '"orders";q=5;w=30'
    assert [remaining(r, "orders")[0] for r in own] == [4, 3, 2, 1, 0, 0]
    assert await placed.count() == 2 + 5


async def test_the_budget_comes_back_when_its_window_ends(
    gateways: tuple[StartGateway, PlacedCommands], issue_key: Issue
) -> None:
    start, _ = gateways
    client = await start(rate_limit_orders=2, rate_limit_window_s=1)
    key = await issue_key()
    first = await client.post(ORDERS, json=LIMIT_ORDER, headers=key)
    assert (first.status_code, remaining(first, "orders")) == (202, (1, 1))
    assert (await client.post(ORDERS, json=LIMIT_ORDER, headers=key)).status_code == 202
    refused = await client.post(ORDERS, json=LIMIT_ORDER, headers=key)
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"

    async def granted_again() -> httpx.Response | None:
        response = await client.post(ORDERS, json=LIMIT_ORDER, headers=key)
        return response if response.status_code == 202 else None

    renewed = await eventually(granted_again, timeout=10, message="the window never ended")
    assert remaining(renewed, "orders")[0] == 1  # a fresh window: the full quota, less this one


@pytest.fixture
async def redis_proxy(infra: Infra) -> AsyncIterator[TcpProxy]:
    parts = urlsplit(infra.redis_url)
    proxy = await TcpProxy(parts.hostname or "127.0.0.1", parts.port or 6379).start()
    yield proxy
    await proxy.stop()


def _through(infra: Infra, proxy: TcpProxy) -> str:
    parts = urlsplit(infra.redis_url)
    return urlunsplit(parts._replace(netloc=f"127.0.0.1:{proxy.port}"))


async def test_without_redis_writes_are_refused_and_nothing_is_published(
    gateways: tuple[StartGateway, PlacedCommands],
    issue_key: Issue,
    infra: Infra,
    redis_proxy: TcpProxy,
) -> None:
    start, placed = gateways
    client = await start(redis_url=_through(infra, redis_proxy))
    key = await issue_key()
    assert (await client.post(ORDERS, json=LIMIT_ORDER, headers=key)).status_code == 202

    redis_proxy.cut()
    refused = await client.post(ORDERS, json=LIMIT_ORDER, headers=key)
    assert refused.status_code == 503
    assert refused.headers["content-type"] == "application/problem+json"
    assert int(refused.headers["retry-after"]) >= 1
    assert await placed.count() == 1

    redis_proxy.restore()

    async def accepted() -> httpx.Response | None:
        response = await client.post(ORDERS, json=LIMIT_ORDER, headers=key)
        return response if response.status_code == 202 else None

    back = await eventually(accepted, message="orders not accepted once Redis was back")
    assert remaining(back, "orders")[0] == 198  # the window went on counting: 200 - 2
    assert await placed.count() == 2


async def test_without_redis_reads_are_admitted_uncounted_and_writes_are_not(
    infra: Infra, redis_proxy: TcpProxy
) -> None:
    """The decision itself (through the app, a lost Redis also loses the key check)."""
    redis = Redis.from_url(_through(infra, redis_proxy), socket_timeout=2)
    budgets = {name: Budget(name, 10, 60) for name in BUDGET_NAMES}
    admission = Admission(
        redis, f"{infra.namespace}-down", budgets, idempotency_ttl_s=60, idempotency_lock_s=5
    )
    principal = Principal("acct-down", "key_down", frozenset())
    try:
        counted = await admission.admit(principal, "reads", None)
        assert counted is not None
        assert counted.usage.remaining == 9
        redis_proxy.cut()
        assert await admission.admit(principal, "reads", None) is None
        for budget in BUDGET_NAMES:
            if budget != "reads":
                with pytest.raises(RedisError):
                    await admission.admit(principal, budget, None)
        redis_proxy.restore()

        async def counted_again() -> int | None:
            outcome = await admission.admit(principal, "reads", None)
            return None if outcome is None else outcome.usage.remaining

        assert await eventually(counted_again) == 8
    finally:
        await redis.aclose()
