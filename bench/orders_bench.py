"""`make bench` (orders): place → order.accepted, end to end, at fixed rates, against a baseline.

System: HTTP POST to the gateway (auth, validation, confirmed publish, Redis pending record) →
orders consumes, commits order + inbox + outbox → relay publishes order.accepted → a consumer here.
Baseline, same run, same rates: a bare FastAPI endpoint publishes the request body with a confirm →
a consumer here. Latency is from the start of the POST to the consumer receiving the message.

    uv run python bench/orders_bench.py [--rates 100,300,600] [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import aio_pika
import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from loadgen import ORDER, RunResult, fixed_rate, table  # noqa: E402
from stack import UNLIMITED_BUDGETS, baseline_endpoint  # noqa: E402

from support.infra import Infra, provision  # noqa: E402
from support.services import ServiceProcess, free_port  # noqa: E402
from tradewind.common.contracts import Instrument, InstrumentListed  # noqa: E402
from tradewind.common.envelope import new_event  # noqa: E402
from tradewind.common.migrations import upgrade_database  # noqa: E402
from tradewind.gateway.handlers.api_keys import open_key_store  # noqa: E402
from tradewind.orders.app import SERVICE_DIR as ORDERS_DIR  # noqa: E402


class Arrivals:
    """Receive times of messages, by id, from one consumer."""

    def __init__(self) -> None:
        self.times: dict[str, float] = {}
        self.changed = asyncio.Event()

    def record(self, key: str) -> None:
        self.times[key] = time.perf_counter()
        self.changed.set()

    async def wait_for(self, keys: set[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not keys <= self.times.keys() and time.monotonic() < deadline:
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                break


async def consume(
    infra: Infra, exchange: str, key: str, arrivals: Arrivals, *, by_order: bool
) -> aio_pika.abc.AbstractRobustConnection:
    connection = await aio_pika.connect_robust(infra.amqp_url)
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=1000)
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(exchange, key)

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        if by_order:
            arrivals.record(json.loads(message.body)["data"]["order"]["id"])
        else:
            arrivals.record(message.message_id or "")
        await message.ack()

    await queue.consume(on_message)
    return connection


async def run_once(
    label: str,
    session: aiohttp.ClientSession,
    url: str,
    headers: dict[str, str],
    arrivals: Arrivals,
    rate: float,
    seconds: float,
    id_of: str,
) -> RunResult:
    started_at: dict[str, float] = {}
    errors = 0

    async def fire(_: int) -> None:
        nonlocal errors
        t0 = time.perf_counter()
        try:
            async with session.post(url, json=ORDER, headers=headers) as response:
                body: dict[str, Any] = await response.json()
                if response.status != 202:
                    errors += 1
                    return
                started_at[body[id_of]] = t0
        except aiohttp.ClientError:
            errors += 1

    elapsed = await fixed_rate(rate, seconds, fire)
    await arrivals.wait_for(set(started_at), timeout=30)
    latencies = [
        (arrivals.times[key] - t0) * 1000 for key, t0 in started_at.items() if key in arrivals.times
    ]
    return RunResult(label, rate, int(rate * seconds), len(latencies), errors, elapsed, latencies)


async def bench(rates: list[float], seconds: float) -> list[tuple[RunResult, RunResult]]:
    with provision() as infra:
        processes: list[ServiceProcess] = []
        connections: list[aio_pika.abc.AbstractRobustConnection] = []
        try:
            orders_db = await infra.create_database("orders")
            await asyncio.to_thread(upgrade_database, ORDERS_DIR, orders_db)
            gateway_db = await infra.create_database("gateway")
            orders_port, gateway_port = free_port(), free_port()
            env = {
                "TRADEWIND_NAMESPACE": infra.namespace,
                "TRADEWIND_AMQP_URL": infra.amqp_url,
                "TRADEWIND_REDIS_URL": infra.redis_url,
                "TRADEWIND_LOG_LEVEL": "WARNING",
                "TRADEWIND_ORDERS_DATABASE_URL": orders_db,
                "TRADEWIND_ORDERS_PORT": str(orders_port),
                "TRADEWIND_GATEWAY_PORT": str(gateway_port),
                "TRADEWIND_GATEWAY_ORDERS_URL": f"http://127.0.0.1:{orders_port}",
                "TRADEWIND_GATEWAY_DATABASE_URL": gateway_db,
                "OTEL_SDK_DISABLED": "false",
                # Benchmarks place far more than an account's default cash would buy.
                "TRADEWIND_ORDERS_INITIAL_CASH": "1000000000000",
                **UNLIMITED_BUDGETS,
            }
            orders = ServiceProcess("bench-orders", "tradewind.orders", orders_port, env).start()
            processes.append(orders)
            await orders.wait_ready()
            gateway = ServiceProcess("bench-gateway", "tradewind.gateway", gateway_port, env)
            processes.append(gateway.start())
            await gateway.wait_ready()
            baseline = baseline_endpoint(infra, env)
            await baseline.wait_ready()
            processes.append(baseline)

            async with open_key_store(gateway_db, infra.redis_url, infra.namespace) as store:
                key = (await store.create("bench")).secret

            system_arrivals, baseline_arrivals = Arrivals(), Arrivals()
            events = f"{infra.namespace}.events"
            connections.append(
                await consume(infra, events, "order.accepted", system_arrivals, by_order=True)
            )
            connections.append(
                await consume(
                    infra,
                    f"{infra.namespace}.commands",
                    "baseline.place",
                    baseline_arrivals,
                    by_order=False,
                )
            )
            await announce_instrument(infra)

            rows = []
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=512)) as session:
                headers = {"Authorization": f"Bearer {key}"}
                gateway_url = f"http://127.0.0.1:{gateway_port}/api/v1/orders"
                baseline_url = f"{baseline.url}/orders"
                # Warm both paths (connections, caches, JIT-free but lazy imports).
                await run_once(
                    "warmup", session, gateway_url, headers, system_arrivals, 50, 1, "id"
                )
                await run_once("warmup", session, baseline_url, {}, baseline_arrivals, 50, 1, "id")
                for rate in rates:
                    system = await run_once(
                        "system",
                        session,
                        gateway_url,
                        headers,
                        system_arrivals,
                        rate,
                        seconds,
                        "id",
                    )
                    base = await run_once(
                        "baseline",
                        session,
                        baseline_url,
                        {},
                        baseline_arrivals,
                        rate,
                        seconds,
                        "id",
                    )
                    rows.append((system, base))
            return rows
        finally:
            for connection in connections:
                await connection.close()
            for process in reversed(processes):
                process.stop()
            await infra.drop_databases()
            await infra.delete_redis_keys()


async def announce_instrument(infra: Infra) -> None:
    """Orders trades only symbols market-data announced; announce ours directly."""
    connection = await aio_pika.connect(infra.amqp_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(f"{infra.namespace}.events")
        listed = InstrumentListed(
            instrument=Instrument(
                symbol="AAPL",
                name="Apple Inc.",
                tick_size="0.01",
                lot_size="1",  # type: ignore[arg-type]
            )
        )
        event = new_event(source="/bench", data=listed, event_type=listed.TYPE, subject="AAPL")
        await exchange.publish(
            aio_pika.Message(event.to_json(), message_id=event.id, type=event.type),
            routing_key=event.type,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rates", default="100,300,600")
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    rows = asyncio.run(bench(rates, args.seconds))
    report = table(rows)
    sys.stdout.write(
        "\nplace → order.accepted (system) vs bare FastAPI confirmed publish (baseline)\n"
    )
    sys.stdout.write(report + "\n")
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / "orders.txt").write_text(report + "\n")


if __name__ == "__main__":
    main()
