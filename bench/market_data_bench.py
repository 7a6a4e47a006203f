"""Quotes per second through market-data, against a bare RabbitMQ baseline measured in the same run.

    PYTHONPATH=services/market-data/src uv run python bench/market_data_bench.py \
        [--quotes 20000] [--batch-size 50] [--concurrency 8]

Scenarios (each ends when an outside consumer has received every quote):
  baseline     the same quote events published straight to RabbitMQ with confirms by a bare
               aio-pika client, in the same batches and concurrency;
  market-data  POST /internal/v1/quotes:batch to the service running as its own process
               (uvicorn, uvloop): validate, Redis (Lua: sequence + latest), publish with confirms.
Then it checks that the bars in PostgreSQL count every quote.

Uses its own namespace (exchanges, queues and Redis keys prefixed ``mdbench<id>``) and database
on the local services (TRADEWIND_BENCH_POSTGRES_URL, _AMQP_URL, _REDIS_URL override them), and
removes all of them at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
import httpx
import redis.asyncio as aioredis

from tradewind.common.broker import Topology
from tradewind.common.contracts import Quote, quote_routing_key
from tradewind.common.contracts.types import utc_now
from tradewind.common.envelope import CONTENT_TYPE, new_event
from tradewind.common.migrations import upgrade_database
from tradewind.market_data.app import SERVICE_DIR
from tradewind.market_data.handlers.quote_pipeline import EVENT_SOURCE
from tradewind.market_data.settings import DEFAULT_INSTRUMENTS, DEFAULT_START_PRICES

POSTGRES = os.environ.get(
    "TRADEWIND_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
AMQP = os.environ.get("TRADEWIND_BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
REDIS = os.environ.get("TRADEWIND_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
# The service's internal routes require a token; this run sets it and sends it.
INTERNAL_TOKEN = "bench-internal-token"

SYMBOLS = [instrument.symbol for instrument in DEFAULT_INSTRUMENTS]


@dataclass(frozen=True)
class Result:
    name: str
    quotes: int
    seconds: float
    batch_latencies_s: list[float]

    @property
    def rate(self) -> float:
        return self.quotes / self.seconds

    def latency_ms(self, quantile: float) -> float:
        ordered = sorted(self.batch_latencies_s)
        return 1000 * ordered[min(len(ordered) - 1, int(quantile * len(ordered)))]


def quote_payloads(count: int) -> list[dict[str, str]]:
    """Distinct quotes over the default symbols, stamped in the recent past 1 µs apart."""
    start = utc_now() - timedelta(minutes=2)
    payloads = []
    for index in range(count):
        symbol = SYMBOLS[index % len(SYMBOLS)]
        bid = DEFAULT_START_PRICES[symbol] + Decimal(index % 50) / 100
        payloads.append(
            {
                "symbol": symbol,
                "bid_price": str(bid),
                "bid_size": "100",
                "ask_price": str(bid + Decimal("0.02")),
                "ask_size": "300",
                "timestamp": (start + timedelta(microseconds=index)).isoformat(),
            }
        )
    return payloads


def batches(items: list[Any], size: int) -> list[list[Any]]:
    return [items[first : first + size] for first in range(0, len(items), size)]


async def run_batches(
    work: list[list[Any]], concurrency: int, send: Callable[[list[Any]], Awaitable[None]]
) -> list[float]:
    """Send the batches with ``concurrency`` workers; returns each batch's latency."""
    queue: asyncio.Queue[list[Any]] = asyncio.Queue()
    for batch in work:
        queue.put_nowait(batch)
    latencies: list[float] = []

    async def worker() -> None:
        while not queue.empty():
            batch = queue.get_nowait()
            started = time.perf_counter()
            await send(batch)
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


class Consumer:
    """Counts quote events on an exclusive queue bound to market.quote.#."""

    def __init__(self) -> None:
        self.received = 0
        self.target = 0
        self.done = asyncio.Event()

    def expect(self, count: int) -> None:
        self.received = 0
        self.target = count
        self.done.clear()

    async def on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        self.received += 1
        if self.received >= self.target:
            self.done.set()


@contextlib.asynccontextmanager
async def consuming(topology: Topology) -> AsyncIterator[Consumer]:
    connection = await aio_pika.connect_robust(AMQP)
    try:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=1_000)
        exchange = await channel.declare_exchange(
            topology.events,
            aio_pika.ExchangeType.TOPIC,
            durable=True,
            arguments={"alternate-exchange": topology.unrouted_events},
        )
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(exchange, routing_key="market.quote.#")
        consumer = Consumer()
        await queue.consume(consumer.on_message, no_ack=True)
        yield consumer
    finally:
        await connection.close()


async def bare_rabbitmq(
    topology: Topology, consumer: Consumer, payloads: list[dict[str, str]], args: argparse.Namespace
) -> Result:
    connection = await aio_pika.connect_robust(AMQP)
    try:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(topology.events)
        sequence = 0

        async def publish(quote: dict[str, str]) -> None:
            nonlocal sequence
            sequence += 1
            data = Quote.model_validate({**quote, "sequence": sequence})
            event = new_event(
                source=EVENT_SOURCE,
                data=data,
                event_type=Quote.TYPE,
                subject=data.symbol,
                time=data.timestamp,
            )
            message = aio_pika.Message(
                event.to_json(),
                message_id=event.id,
                type=event.type,
                content_type=CONTENT_TYPE,
                timestamp=event.time,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            )
            await exchange.publish(message, quote_routing_key(data.symbol), mandatory=True)

        async def send(batch: list[dict[str, str]]) -> None:
            await asyncio.gather(*(publish(quote) for quote in batch))

        consumer.expect(len(payloads))
        started = time.perf_counter()
        latencies = await run_batches(batches(payloads, args.batch_size), args.concurrency, send)
        await asyncio.wait_for(consumer.done.wait(), 120)
        return Result(
            "baseline: bare aio-pika publish + confirm",
            len(payloads),
            time.perf_counter() - started,
            latencies,
        )
    finally:
        await connection.close()


async def market_data(
    base_url: str, consumer: Consumer, payloads: list[dict[str, str]], args: argparse.Namespace
) -> Result:
    limits = httpx.Limits(
        max_connections=args.concurrency, max_keepalive_connections=args.concurrency
    )
    async with httpx.AsyncClient(
        base_url=base_url,
        limits=limits,
        timeout=30,
        headers={"X-Internal-Token": INTERNAL_TOKEN},
    ) as client:

        async def send(batch: list[dict[str, str]]) -> None:
            response = await client.post("/internal/v1/quotes:batch", json={"quotes": batch})
            response.raise_for_status()

        consumer.expect(len(payloads))
        started = time.perf_counter()
        latencies = await run_batches(batches(payloads, args.batch_size), args.concurrency, send)
        await asyncio.wait_for(consumer.done.wait(), 120)
        return Result(
            "market-data: HTTP ingest -> Redis -> publish",
            len(payloads),
            time.perf_counter() - started,
            latencies,
        )


# --- the service process and the resources it uses ---


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def service_process(namespace: str, database_url: str) -> AsyncIterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "TRADEWIND_NAMESPACE": namespace,
        "TRADEWIND_AMQP_URL": AMQP,
        "TRADEWIND_REDIS_URL": REDIS,
        "TRADEWIND_LOG_LEVEL": "WARNING",
        "TRADEWIND_MARKET_DATA_PORT": str(port),
        "TRADEWIND_MARKET_DATA_DATABASE_URL": database_url,
        "TRADEWIND_MARKET_DATA_SIMULATOR_ENABLED": "false",
        "TRADEWIND_INTERNAL_TOKEN": INTERNAL_TOKEN,
    }
    log_path = Path(tempfile.gettempdir()) / f"tradewind-market-data-bench-{port}.log"
    process = start_process([sys.executable, "-m", "tradewind.market_data"], env, log_path)
    base_url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(timeout=1) as client:
            deadline = time.monotonic() + 30
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"market-data exited; see {log_path}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{base_url}/health/ready")).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"market-data not ready in 30 s; see {log_path}")
                await asyncio.sleep(0.1)
        yield base_url
    finally:
        await asyncio.to_thread(stop_process, process, log_path)


def start_process(
    command: list[str], env: dict[str, str], log_path: Path
) -> subprocess.Popen[bytes]:
    with log_path.open("wb") as log_file:
        return subprocess.Popen(
            command, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop_process(process: subprocess.Popen[bytes], log_path: Path) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    log_path.unlink(missing_ok=True)


async def create_database(name: str) -> str:
    connection = await asyncpg.connect(POSTGRES)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    admin = httpx.URL(POSTGRES)
    url = str(admin.copy_with(scheme="postgresql+asyncpg", path=f"/{name}"))
    await asyncio.to_thread(upgrade_database, SERVICE_DIR, url)
    return url


async def counted_in_bars(database_url: str) -> int:
    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://")
    connection = await asyncpg.connect(dsn)
    try:
        return int(await connection.fetchval("SELECT coalesce(sum(volume), 0) FROM bars_1min"))
    finally:
        await connection.close()


async def wait_for_bars(database_url: str, expected: int) -> int:
    """Quotes counted in the bars once the service has flushed them all (or after 30 s)."""
    counted = 0
    for _ in range(150):
        counted = await counted_in_bars(database_url)
        if counted >= expected:
            break
        await asyncio.sleep(0.2)
    return counted


async def drop_database(name: str) -> None:
    connection = await asyncpg.connect(POSTGRES)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


async def delete_redis_keys(namespace: str) -> None:
    client = aioredis.from_url(REDIS)
    try:
        async for key in client.scan_iter(match=f"{namespace}:*", count=1_000):
            await client.delete(key)
    finally:
        await client.aclose()


async def delete_topology(topology: Topology) -> None:
    connection = await aio_pika.connect(AMQP)
    try:
        channel = await connection.channel()
        for delay_ms in topology.retry_delays_ms:
            await channel.queue_delete(topology.wait_queue(delay_ms))
        await channel.queue_delete(topology.unrouted_events)
        for name, _kind in topology.exchanges():
            await channel.exchange_delete(name)
    finally:
        await connection.close()


# --- the run ---


def table(results: list[Result], baseline: Result) -> str:
    header = (
        f"{'scenario':<48} {'quotes':>8} {'seconds':>8} {'quotes/s':>10} {'vs baseline':>12} "
        f"{'batch p50 ms':>13} {'batch p99 ms':>13}"
    )
    lines = [header, "-" * len(header)]
    for result in results:
        lines.append(
            f"{result.name:<48} {result.quotes:>8} {result.seconds:>8.2f} {result.rate:>10.0f} "
            f"{result.rate / baseline.rate:>11.2f}x {result.latency_ms(0.5):>13.1f} "
            f"{result.latency_ms(0.99):>13.1f}"
        )
    return "\n".join(lines)


async def main(args: argparse.Namespace) -> None:
    run_id = uuid.uuid4().hex[:8]
    namespace = f"mdbench{run_id}"
    database = f"tw_mdbench_{run_id}"
    topology = Topology(namespace)
    payloads = quote_payloads(args.quotes)
    try:
        database_url = await create_database(database)
        async with service_process(namespace, database_url) as base_url:
            async with consuming(topology) as consumer:
                # A short warm-up of both paths (connections, JIT-less caches, Lua script load).
                warm_up = quote_payloads(args.batch_size * args.concurrency)
                await market_data(base_url, consumer, warm_up, args)
                await bare_rabbitmq(topology, consumer, warm_up, args)
                baseline = await bare_rabbitmq(topology, consumer, payloads, args)
                service = await market_data(base_url, consumer, payloads, args)
            expected = len(warm_up) + len(payloads)
            bars = await wait_for_bars(database_url, expected)
        sys.stdout.write(
            f"\n{args.quotes} quotes, batches of {args.batch_size}, {args.concurrency} concurrent "
            f"senders, {len(SYMBOLS)} symbols\n\n"
        )
        sys.stdout.write(table([baseline, service], baseline) + "\n\n")
        sys.stdout.write(f"bars: {bars} of {expected} quotes counted in PostgreSQL\n")
        mean_ms = 1000 * statistics.fmean(service.batch_latencies_s)
        sys.stdout.write(f"market-data mean batch latency: {mean_ms:.1f} ms\n")
    finally:
        await drop_database(database)
        await delete_redis_keys(namespace)
        await delete_topology(topology)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quotes", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=8)
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
