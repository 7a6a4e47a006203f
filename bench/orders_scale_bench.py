"""`make bench` (orders at scale): does anything per quote or per order grow with the book?

One stack (orders and gateway as processes, this run's own vhost, databases and keys). For each
book size (0, 10,000, 100,000 resting gtc limit orders on the traded symbol, far from the market,
half buys half sells, seeded straight into the database as the command path stores them), with
quotes flowing, it measures in the same run:

- **fill latency**: market orders POSTed to the gateway (open loop) until their ``order.filled``
  event reaches a consumer here; with a fresh quote they fill on arrival;
- **read latency**: GET /api/v1/orders/{id} through the gateway;
- **readiness**: GET /health/ready of the orders service;
- **quote handling**: the orders service's own handler time per quote (its /metrics).

The empty book is the baseline: each figure is reported with its ratio to the empty book's.

    uv run python bench/orders_scale_bench.py [--sizes 0,10000,100000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sys
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import aio_pika
import aiohttp
import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from loadgen import fixed_rate  # noqa: E402
from stack import QuotePublisher, Stack, list_instrument, scrape  # noqa: E402

from support.infra import Infra, provision  # noqa: E402

SYMBOL = "AAPL"
MID = Decimal("190")


@dataclass(frozen=True)
class Phase:
    resting: int
    fill_p50: float
    fill_p99: float
    fills: int
    read_p50: float
    read_p99: float
    ready_p99: float
    quote_ms: float
    quotes: int


def percentile(samples: list[float], q: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class FillWatcher:
    """Receive times of ``order.filled`` events, by order id."""

    def __init__(self) -> None:
        self.filled: dict[str, float] = {}
        self.connection: aio_pika.abc.AbstractRobustConnection | None = None
        self._arrived = asyncio.Event()

    async def wait_for(self, order_ids: set[str], timeout: float) -> None:
        """Until every one of ``order_ids`` has filled, or ``timeout`` seconds have passed."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while not order_ids <= self.filled.keys():
                    self._arrived.clear()
                    await self._arrived.wait()

    async def start(self, infra: Infra) -> None:
        self.connection = await aio_pika.connect_robust(infra.amqp_url)
        channel = await self.connection.channel()
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(f"{infra.namespace}.events", "order.filled")

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            self.filled[json.loads(message.body)["data"]["order"]["id"]] = time.perf_counter()
            self._arrived.set()

        await queue.consume(on_message, no_ack=True)

    async def close(self) -> None:
        if self.connection is not None:
            await self.connection.close()


async def seed_resting_orders(database_url: str, count: int) -> None:
    """``count`` more resting gtc limits on SYMBOL, far from the market: they never trade."""
    if count <= 0:
        return
    connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        await connection.execute(
            """
            INSERT INTO orders (id, account_id, symbol, side, type, qty, limit_price,
                time_in_force, status, filled_qty, filled_notional, submitted_at, created_at,
                updated_at, accepted_at, version)
            SELECT gen_random_uuid(), 'resting-' || (g % 100), $1,
                CASE WHEN g % 2 = 0 THEN 'buy' ELSE 'sell' END, 'limit', 1,
                CASE WHEN g % 2 = 0 THEN 50 + (g % 5000) / 100.0 ELSE 300 + (g % 5000) / 100.0 END,
                'gtc', 'new', 0, 0, now(), now() - interval '1 hour' + g * interval '1 microsecond',
                now(), now(), 1
            FROM generate_series(1, $2) AS g
            """,
            SYMBOL,
            count,
        )
        await connection.execute("ANALYZE orders")
    finally:
        await connection.close()


async def quote_stream(publisher: QuotePublisher, rate: float, stop: asyncio.Event) -> None:
    rng = random.Random(5)
    mid = MID
    while not stop.is_set():
        mid += Decimal(rng.randint(-2, 2)) / 100
        await publisher.publish(mid - Decimal("0.05"), mid + Decimal("0.05"))
        await asyncio.sleep(1 / rate)


async def measure_phase(
    stack: Stack,
    session: aiohttp.ClientSession,
    key: str,
    watcher: FillWatcher,
    resting: int,
    seconds: float,
    rate: float,
) -> Phase:
    queue = {"queue": f"{stack.infra.namespace}.orders.quotes"}
    orders_url = stack.url("orders")
    quote_seconds = await scrape(orders_url, "tradewind_message_handler_seconds_sum", **queue)
    quote_count = await scrape(orders_url, "tradewind_message_handler_seconds_count", **queue)
    headers = {"Authorization": f"Bearer {key}"}
    gateway = stack.url("gateway")
    posted: dict[str, float] = {}
    reads: list[float] = []
    readiness: list[float] = []

    async def place(_: int) -> None:
        started = time.perf_counter()
        async with session.post(
            f"{gateway}/api/v1/orders",
            json={"symbol": SYMBOL, "side": "buy", "type": "market", "qty": "1"},
            headers=headers,
        ) as response:
            body = await response.json()
        if response.status == 202:
            posted[body["id"]] = started

    async def read(_: int) -> None:
        if not posted:
            return
        order_id = random.choice(list(posted))
        started = time.perf_counter()
        async with session.get(f"{gateway}/api/v1/orders/{order_id}", headers=headers) as answer:
            await answer.read()
        reads.append((time.perf_counter() - started) * 1000)

    async def ready(_: int) -> None:
        started = time.perf_counter()
        async with session.get(f"{orders_url}/health/ready") as answer:
            await answer.read()
        readiness.append((time.perf_counter() - started) * 1000)

    await asyncio.gather(
        fixed_rate(rate, seconds, place),
        fixed_rate(rate, seconds, read),
        fixed_rate(10, seconds, ready),
    )
    await watcher.wait_for(set(posted), timeout=30)
    fills = [(watcher.filled[i] - t0) * 1000 for i, t0 in posted.items() if i in watcher.filled]
    quote_seconds = (
        await scrape(orders_url, "tradewind_message_handler_seconds_sum", **queue) - quote_seconds
    )
    quote_count = (
        await scrape(orders_url, "tradewind_message_handler_seconds_count", **queue) - quote_count
    )
    return Phase(
        resting=resting,
        fill_p50=percentile(fills, 0.5),
        fill_p99=percentile(fills, 0.99),
        fills=len(fills),
        read_p50=percentile(reads, 0.5),
        read_p99=percentile(reads, 0.99),
        ready_p99=percentile(readiness, 0.99),
        quote_ms=1000 * quote_seconds / max(quote_count, 1),
        quotes=int(quote_count),
    )


async def bench(sizes: list[int], seconds: float, quote_rate: float, rate: float) -> list[Phase]:
    """Each book size on a fresh orders database and fresh processes: what a phase measures
    depends on the size of its book, not on what earlier phases left (dead rows, a long
    outbox)."""
    phases: list[Phase] = []
    with provision() as infra:
        watcher = FillWatcher()
        # One publisher for every phase: its sequence keeps growing, so no quote a phase left in
        # the queue can look newer to the next phase's book than that phase's own quotes.
        publisher = QuotePublisher(infra, SYMBOL)
        try:
            for size in sizes:
                phases.append(
                    await one_size(infra, watcher, publisher, size, seconds, quote_rate, rate)
                )
        finally:
            await watcher.close()
            await publisher.close()
            await infra.drop_databases()
            await infra.delete_redis_keys()
    return phases


async def one_size(
    infra: Infra,
    watcher: FillWatcher,
    publisher: QuotePublisher,
    size: int,
    seconds: float,
    quote_rate: float,
    rate: float,
) -> Phase:
    stack = await Stack.start(infra, services=("orders", "gateway"))
    stop_quotes = asyncio.Event()
    try:
        if watcher.connection is None:  # the exchanges exist once the first services ran
            await watcher.start(infra)
            await publisher.open()
        await list_instrument(infra, SYMBOL)
        key = await stack.api_key()
        await seed_resting_orders(stack.env["TRADEWIND_ORDERS_DATABASE_URL"], size)
        quotes = asyncio.create_task(quote_stream(publisher, quote_rate, stop_quotes))
        async with aiohttp.ClientSession() as session:
            # Warm-up: connections, prepared statements, the first quotes.
            await measure_phase(stack, session, key, watcher, size, 2, rate)
            phase = await measure_phase(stack, session, key, watcher, size, seconds, rate)
        stop_quotes.set()
        await quotes
        return phase
    finally:
        stack.stop()


def table(phases: list[Phase]) -> str:
    base = phases[0]
    header = (
        f"{'resting':>8} | {'fill p50':>8} {'fill p99':>8} {'x':>5} | {'read p50':>8} "
        f"{'read p99':>8} {'x':>5} | {'ready p99':>9} | {'quote ms':>8} {'x':>5} | fills quotes"
    )
    lines = [header, "-" * len(header)]
    for p in phases:
        lines.append(
            f"{p.resting:>8,} | {p.fill_p50:>8.1f} {p.fill_p99:>8.1f} "
            f"{p.fill_p99 / base.fill_p99:>5.2f} | {p.read_p50:>8.1f} {p.read_p99:>8.1f} "
            f"{p.read_p99 / base.read_p99:>5.2f} | {p.ready_p99:>9.1f} | {p.quote_ms:>8.2f} "
            f"{p.quote_ms / base.quote_ms:>5.2f} | {p.fills:>5} {p.quotes:>6}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="0,10000,100000")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--quote-rate", type=float, default=20.0, help="quotes per second")
    parser.add_argument("--rate", type=float, default=50.0, help="orders and reads per second")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    phases = asyncio.run(bench(sizes, args.seconds, args.quote_rate, args.rate))
    report = (
        "latencies in ms; x = p99 (or quote handling time) relative to the first book size\n"
        + table(phases)
    )
    sys.stdout.write("\n" + report + "\n")
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / "orders_scale.txt").write_text(report + "\n")


if __name__ == "__main__":
    main()
