"""The I/O of health checks: a service's readiness and metrics over HTTP, and the dependencies."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aio_pika
import aiohttp
import asyncpg
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from tradewind.common.db import asyncpg_dsn
from tradewind.health.adapters.closing import close_quietly
from tradewind.health.domain.service_metrics import ServiceMetrics, parse_service_metrics
from tradewind.health.domain.status import Observation, Status, read_readiness

log = logging.getLogger(__name__)

# Readiness bodies are a few hundred bytes; a /metrics page with every histogram is far below this.
MAX_READINESS_BYTES = 64 * 1024
MAX_METRICS_BYTES = 4 * 1024 * 1024

DependencyCheck = Callable[[], Awaitable[None]]


class AnswerTooLarge(Exception):
    pass


async def _read_bounded(response: aiohttp.ClientResponse, limit: int) -> bytes:
    body = bytearray()
    async for chunk in response.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > limit:
            raise AnswerTooLarge(f"answer larger than {limit} bytes")
    return bytes(body)


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class ServiceProbe:
    """Asks one Tradewind service for its readiness, and its metrics for its circuit breakers,
    outbox and webhook backlog."""

    def __init__(
        self,
        name: str,
        base_url: str,
        session: aiohttp.ClientSession,
        *,
        timeout_s: float,
        metrics_url: str | None = None,
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.metrics_url = metrics_url or f"{self.base_url}/metrics"
        self.session = session
        self.timeout_s = timeout_s
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def observe(self) -> Observation:
        readiness, metrics = await asyncio.gather(self._readiness(), self._metrics())
        if metrics is None:
            return readiness
        return dataclasses.replace(
            readiness, breakers=metrics.breakers, outbox=metrics.outbox, webhooks=metrics.webhooks
        )

    async def _readiness(self) -> Observation:
        started = time.perf_counter()
        try:
            async with self.session.get(
                f"{self.base_url}/health/ready", timeout=self._timeout, allow_redirects=False
            ) as response:
                raw = await _read_bounded(response, MAX_READINESS_BYTES)
                http_status = response.status
        except TimeoutError:
            return Observation(Status.UNREACHABLE, detail=f"no answer within {self.timeout_s:g} s")
        except (aiohttp.ClientError, OSError) as exc:
            return Observation(Status.UNREACHABLE, detail=_describe(exc))
        except AnswerTooLarge as exc:
            return Observation(
                Status.DOWN, detail=str(exc), latency_s=time.perf_counter() - started
            )
        latency_s = time.perf_counter() - started
        try:
            body: object = json.loads(raw)
        except ValueError:
            body = None
        verdict = read_readiness(http_status, body)
        return Observation(
            verdict.status, detail=verdict.detail, latency_s=latency_s, checks=verdict.checks
        )

    async def _metrics(self) -> ServiceMetrics | None:
        try:
            async with self.session.get(
                self.metrics_url, timeout=self._timeout, allow_redirects=False
            ) as response:
                if response.status != 200:
                    return None
                text = (await _read_bounded(response, MAX_METRICS_BYTES)).decode(
                    "utf-8", errors="replace"
                )
            return parse_service_metrics(text)
        except (TimeoutError, aiohttp.ClientError, OSError, AnswerTooLarge) as exc:
            # The readiness answer already tells whether the service is reachable; metrics are
            # extra information, so their absence is only worth a debug line.
            log.debug("metrics unavailable", extra={"target": self.name, "error": repr(exc)})
            return None


class AmqpConnectivity:
    """Keeps one AMQP connection and proves on each check that the broker still answers.

    A plain connection, re-opened by the next check when it is lost: the check itself is the retry
    loop. Opening and closing a channel is one cheap round trip the broker must answer, which a
    half-dead TCP connection cannot fake.
    """

    def __init__(self, url: str, *, connection_name: str = "health") -> None:
        self.url = url
        self.connection_name = connection_name
        self._connection: Any = None
        self._closing: set[asyncio.Task[None]] = set()
        self._opening = asyncio.Lock()

    async def check(self) -> None:
        try:
            connection = await self.connection()
            channel = await connection.channel(publisher_confirms=False)
            await channel.close()
        except BaseException:
            # Also on cancellation (the poller's timeout): a connection in an unknown state is
            # replaced by a fresh one at the next check.
            self.forget_connection()
            raise

    async def connection(self) -> Any:
        """The kept connection, opened again if it was lost (the queue reader shares it)."""
        # One opening at a time: the check and the queue reader ask at once, and two opened
        # connections would leave one that nobody closes.
        async with self._opening:
            if self._connection is None or self._connection.is_closed:
                self.forget_connection()
                self._connection = await aio_pika.connect(
                    self.url, client_properties={"connection_name": self.connection_name}
                )
            return self._connection

    def forget_connection(self) -> None:
        """Drop the connection (closed in the background); the next use opens a fresh one."""
        connection, self._connection = self._connection, None
        if connection is not None:
            task = asyncio.get_running_loop().create_task(
                close_quietly(
                    connection, within_s=2.0, failure="closing a stale AMQP connection failed"
                )
            )
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        self.forget_connection()
        if self._closing:
            await asyncio.gather(*self._closing)


class RedisConnectivity:
    """PING over a small client; one attempt per check, since the poller retries anyway."""

    def __init__(self, url: str, *, timeout_s: float) -> None:
        self._redis: Redis = Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),
            max_connections=2,
        )

    async def check(self) -> None:
        await self._redis.ping()

    async def close(self) -> None:
        await self._redis.aclose()


class PostgresConnectivity:
    """Connects, runs SELECT 1 and disconnects on every check.

    A fresh connection each time proves what an operator asks ("can a service connect?"),
    including authentication, and leaves no idle session behind; every few seconds it is cheap.
    """

    def __init__(self, dsn: str, *, timeout_s: float) -> None:
        self._dsn = asyncpg_dsn(dsn)
        self._timeout_s = timeout_s

    async def check(self) -> None:
        connection = await asyncpg.connect(self._dsn, timeout=self._timeout_s)
        try:
            await connection.fetchval("SELECT 1", timeout=self._timeout_s)
        finally:
            await connection.close(timeout=self._timeout_s)


async def observe_dependency(check: DependencyCheck, *, timeout_s: float) -> Observation:
    """Run one dependency check within the timeout: up, or down with the reason."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout_s):
            await check()
    except TimeoutError:
        return Observation(Status.DOWN, detail=f"no answer within {timeout_s:g} s")
    except Exception as exc:
        return Observation(Status.DOWN, detail=_describe(exc))
    return Observation(Status.UP, latency_s=time.perf_counter() - started)
