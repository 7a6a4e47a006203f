"""A real Redis restart under load: the gateway's Redis is a ``redis-server`` of the test's own,
without persistence, killed with SIGKILL while requests flow and started again on its port.

During the outage every answer is one the documentation promises (reads served, order writes a
503 problem with Retry-After), none waits past the gateway's Redis timeouts, and readiness shows
Redis down; after it, every key authenticates again from PostgreSQL, rate limits count again and
readiness shows Redis up.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import aio_pika
import httpx
import pytest
from redis.asyncio import Redis

from integration.gateway.conftest import LIMIT_ORDER, PlacedCommands
from integration.gateway.harness import bearer
from integration.gateway.processes import GatewayProcesses
from support.infra import Infra
from support.polling import eventually
from support.redis_server import RedisServer
from support.services import ServiceProcess
from tradewind.gateway.domain.auth_model import IssuedKey
from tradewind.gateway.domain.rate_limits import Budget
from tradewind.gateway.handlers.api_keys import open_key_store

LOAD_KEYS = 8
LIMITED_QUOTA = 3
# The gateway's Redis client waits 2 s for a pooled connection and 2 s for an answer (app.py).
LONGEST_ANSWER_S = 5.0
OUTAGE_S = 3.0

Send = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]


@dataclass(frozen=True)
class Answer:
    method: str
    status: int
    problem_type: str | None
    retry_after: str | None
    counted: bool  # carried RateLimit fields: the budget was counted in Redis
    sent_at: float  # time.monotonic()
    answered_at: float

    @property
    def elapsed_s(self) -> float:
        return self.answered_at - self.sent_at

    @property
    def documented(self) -> bool:
        """An answer the gateway promises while Redis comes and goes: reads are served, an
        order is placed or refused with a 503 problem that says when to retry."""
        if self.method == "GET":
            return self.status == 200
        return self.status == 202 or (
            self.status == 503
            and self.problem_type == "urn:tradewind:problem:dependency-unavailable"
            and self.retry_after is not None
        )


@dataclass
class Traffic:
    """Requests that keep flowing through the outage, each answer noted with its times."""

    gateway: ServiceProcess
    answers: list[Answer] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def within(self, start: float, end: float, method: str | None = None) -> list[Answer]:
        """Answers to requests sent after ``start`` and answered before ``end``: one in flight
        across a change of Redis's state belongs to neither side."""
        return [
            a
            for a in self.answers
            if start < a.sent_at and a.answered_at < end and (method is None or a.method == method)
        ]

    async def answered_since(self, start: float, at_least: int) -> bool:
        return len(self.within(start, math.inf)) >= at_least

    async def keep_sending(self, send: Send, stop: asyncio.Event) -> None:
        async with httpx.AsyncClient(base_url=self.gateway.url, timeout=10) as client:
            while not stop.is_set():
                sent_at = time.monotonic()
                try:
                    response = await send(client)
                except httpx.HTTPError as exc:
                    self.errors.append(repr(exc))
                    continue
                self.answers.append(_answer(response, sent_at))


def _answer(response: httpx.Response, sent_at: float) -> Answer:
    problem = None
    if response.headers.get("content-type") == "application/problem+json":
        problem = str(response.json().get("type"))
    return Answer(
        response.request.method,
        response.status_code,
        problem,
        response.headers.get("retry-after"),
        "ratelimit" in response.headers,
        sent_at,
        time.monotonic(),
    )


@pytest.fixture
async def placed_commands(infra: Infra, namespace: str) -> AsyncIterator[PlacedCommands]:
    """Orders commands have a queue to go to, so an admitted order is a 202."""
    connection = await aio_pika.connect(infra.amqp_url)
    try:
        yield PlacedCommands(await connection.channel(), namespace)
    finally:
        await connection.close()


async def _readiness_of_redis(gateway: ServiceProcess) -> str:
    async with httpx.AsyncClient(timeout=5) as client:
        report = (await client.get(f"{gateway.url}/health/ready")).json()
    return str(report["checks"]["redis"]["status"])


async def _redis_shows(gateway: ServiceProcess, status: str) -> None:
    async def shown() -> bool:
        return await _readiness_of_redis(gateway) == status

    await eventually(shown, timeout=15, interval=0.1, message=f"readiness never showed {status}")


async def test_a_real_redis_restart_under_load_costs_no_key_and_no_500(
    private_redis: RedisServer,  # first: the gateway stops before its Redis is killed for good
    gateway_processes: GatewayProcesses,
    gateway_database: str,
    placed_commands: PlacedCommands,
    namespace: str,
    account: str,
) -> None:
    gateway = await gateway_processes.start(
        "gateway-redis-restart",
        redis_url=private_redis.url,
        # The load must not run out of budget; the limited key has a small budget of its own.
        TRADEWIND_GATEWAY_RATE_LIMIT_READS="1000000",
        TRADEWIND_GATEWAY_RATE_LIMIT_ORDERS="1000000",
    )
    await placed_commands.bind()
    async with open_key_store(gateway_database, private_redis.url, namespace) as store:
        load_keys = [await store.create(account) for _ in range(LOAD_KEYS)]
        limited = await store.create(account, rate_budgets=(Budget("reads", LIMITED_QUOTA, 60),))
    traffic = Traffic(gateway)
    stop = asyncio.Event()

    def reads_of(key: IssuedKey) -> Send:
        return lambda client: client.get("/api/v1/auth/me", headers=bearer(key.secret))

    async def place(client: httpx.AsyncClient) -> httpx.Response:
        return await client.post("/api/v1/orders", json=LIMIT_ORDER, headers=bearer(writer))

    writer = load_keys[0].secret
    began = time.monotonic()
    senders = [asyncio.create_task(traffic.keep_sending(reads_of(k), stop)) for k in load_keys]
    senders.append(asyncio.create_task(traffic.keep_sending(place, stop)))
    try:
        await eventually(lambda: traffic.answered_since(began, 100), message="no load")
        assert await _readiness_of_redis(gateway) == "up"
        run_before = await _run_id(private_redis)

        private_redis.kill()
        killed_at = time.monotonic()
        await _redis_shows(gateway, "down")

        async def outage_long_enough() -> bool:
            # Long enough for every key's memory entry (5 s at most, dropped when the key-change
            # subscription broke) and pooled connection to have met the outage.
            return (
                await traffic.answered_since(killed_at, 100)
                and time.monotonic() - killed_at >= OUTAGE_S
            )

        await eventually(outage_long_enough, timeout=20, message="no load during the outage")

        restarted_at = time.monotonic()
        private_redis.start()
        await private_redis.wait_ready()
        assert await _run_id(private_redis) != run_before  # a new Redis, started empty
        await _redis_shows(gateway, "up")
        up_at = time.monotonic()

        async def counted_again() -> bool:
            recent = traffic.within(up_at, math.inf, "GET")[-LOAD_KEYS * 10 :]
            return len(recent) == LOAD_KEYS * 10 and all(a.counted for a in recent)

        await eventually(counted_again, timeout=15, message="reads never counted again")
    finally:
        stop.set()
        await asyncio.gather(*senders)

    assert traffic.errors == [], traffic.errors[:5]
    slowest = max(a.elapsed_s for a in traffic.answers)
    assert slowest < LONGEST_ANSWER_S, f"an answer took {slowest:.2f} s"
    assert [a for a in traffic.answers if not a.documented][:5] == []
    # While no Redis ran: reads served uncounted (keys checked in PostgreSQL, budgets fail open);
    # order writes refused (fail closed), none placed.
    outage_reads = traffic.within(killed_at, restarted_at, "GET")
    outage_writes = traffic.within(killed_at, restarted_at, "POST")
    assert outage_reads, "no read was answered during the outage"
    assert not any(a.counted for a in outage_reads)
    assert outage_writes, "no order was answered during the outage"
    assert {a.status for a in outage_writes} == {503}
    assert {a.status for a in traffic.within(began, killed_at, "POST")} == {202}
    assert traffic.within(up_at, math.inf, "POST")[-1].status == 202

    await _every_key_authenticates_from_the_database(gateway, private_redis, namespace, load_keys)
    await _the_limited_keys_budget_is_counted_again(gateway, limited)


async def _run_id(server: RedisServer) -> str:
    # A client of its own: a pooled connection to the killed server would fail once.
    redis = Redis.from_url(server.url, socket_timeout=2)
    try:
        return str((await redis.info("server"))["run_id"])
    finally:
        await redis.aclose()


async def _every_key_authenticates_from_the_database(
    gateway: ServiceProcess, server: RedisServer, namespace: str, keys: list[IssuedKey]
) -> None:
    redis = Redis.from_url(server.url)
    try:
        async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
            for key in keys:
                me = await client.get("/api/v1/auth/me", headers=bearer(key.secret))
                assert me.status_code == 200, me.text
                assert me.json()["key_id"] == key.key_id
                # The restarted Redis started empty: this entry was read from PostgreSQL.
                assert await redis.exists(f"{namespace}:apikey:{key.key_id}"), key.key_id
    finally:
        await redis.aclose()


async def _the_limited_keys_budget_is_counted_again(
    gateway: ServiceProcess, limited: IssuedKey
) -> None:
    statuses = []
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
        for _ in range(LIMITED_QUOTA + 1):
            response = await client.get("/api/v1/auth/me", headers=bearer(limited.secret))
            assert "ratelimit" in response.headers, "a read after the restart was not counted"
            statuses.append(response.status_code)
    assert statuses == [200] * LIMITED_QUOTA + [429]
    assert response.headers["retry-after"]
