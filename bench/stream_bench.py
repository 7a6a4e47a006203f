"""`make bench` (stream): quote fan-out to 100 WebSocket clients through one gateway process.

System: quotes published to the events exchange → the gateway's one stream queue → 100 WebSocket
clients subscribed to the symbol. Baseline, same run: the same quotes to 100 AMQP consumers, each
with its own queue bound to the exchange (RabbitMQ doing the fan-out, no gateway). Latency is from
publish to a client receiving the quote.

    uv run python bench/stream_bench.py [--clients 100] [--rates 20,50,100] [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aio_pika
from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from loadgen import RunResult, fixed_rate, table  # noqa: E402

from support.infra import provision  # noqa: E402
from support.services import ServiceProcess, free_port  # noqa: E402
from tradewind.common.envelope import CloudEvent  # noqa: E402
from tradewind.gateway.handlers.api_keys import open_key_store  # noqa: E402

SYMBOL = "BENCH"
SYSTEM_KEY = f"market.quote.{SYMBOL}"
# The baseline's quotes travel under another key, so the gateway never sees them.
BASELINE_KEY = f"market.quote.{SYMBOL}2"


class Latencies:
    def __init__(self) -> None:
        self.samples: list[float] = []
        self.sent: dict[int, float] = {}
        self.expected = 0
        self.complete = asyncio.Event()

    def expect(self, count: int) -> None:
        self.samples.clear()
        self.expected = count
        self.complete.clear()

    def received(self, sequence: int) -> None:
        sent = self.sent.get(sequence)
        if sent is not None:
            self.samples.append((time.perf_counter() - sent) * 1000)
            if len(self.samples) >= self.expected:
                self.complete.set()


def quote_event(sequence: int) -> CloudEvent:
    return CloudEvent(
        id=f"q-{sequence}",
        source="/bench",
        type="market.quote",
        time=datetime.now(UTC),
        subject=SYMBOL,
        data={
            "symbol": SYMBOL,
            "bid_price": "100.00",
            "bid_size": "10",
            "ask_price": "100.01",
            "ask_size": "10",
            "timestamp": datetime.now(UTC).isoformat(),
            "sequence": sequence,
            "source": "simulator",
        },
    )


async def ws_client(url: str, key: str, latencies: Latencies, ready: asyncio.Event) -> None:
    async with connect(url, compression=None, max_queue=None) as ws:
        await ws.send(json.dumps({"action": "auth", "key": key}))
        await ws.send(json.dumps({"action": "subscribe", "quotes": [SYMBOL]}))
        await read_until(ws, "subscription")
        ready.set()
        async for raw in ws:
            frame: dict[str, Any] = json.loads(raw)
            if frame["type"] == "quote":
                latencies.received(frame["data"]["sequence"])


async def read_until(ws: ClientConnection, kind: str) -> None:
    while json.loads(await ws.recv())["type"] != kind:
        pass


async def run(
    label: str,
    exchange: aio_pika.abc.AbstractExchange,
    routing_key: str,
    latencies: Latencies,
    rate: float,
    seconds: float,
    clients: int,
    first_sequence: int,
) -> RunResult:
    latencies.expect(int(rate * seconds) * clients)

    async def fire(i: int) -> None:
        sequence = first_sequence + i
        latencies.sent[sequence] = time.perf_counter()
        event = quote_event(sequence)
        await exchange.publish(
            aio_pika.Message(event.to_json(), message_id=event.id, type=event.type),
            routing_key=routing_key,
        )

    elapsed = await fixed_rate(rate, seconds, fire)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(20):
            await latencies.complete.wait()
    return RunResult(
        label, rate, latencies.expected, len(latencies.samples), 0, elapsed, list(latencies.samples)
    )


async def bench(
    clients: int, rates: list[float], seconds: float
) -> list[tuple[RunResult, RunResult]]:
    with provision() as infra:
        gateway: ServiceProcess | None = None
        connections: list[aio_pika.abc.AbstractRobustConnection] = []
        tasks: list[asyncio.Task[None]] = []
        try:
            port = free_port()
            gateway_db = await infra.create_database("gateway")
            env = {
                "TRADEWIND_NAMESPACE": infra.namespace,
                "TRADEWIND_AMQP_URL": infra.amqp_url,
                "TRADEWIND_REDIS_URL": infra.redis_url,
                "TRADEWIND_LOG_LEVEL": "WARNING",
                "TRADEWIND_GATEWAY_PORT": str(port),
                "TRADEWIND_GATEWAY_DATABASE_URL": gateway_db,
                "TRADEWIND_PREFETCH": "256",
                # Every client streams with the one key: the key may hold them all.
                "TRADEWIND_GATEWAY_STREAM_MAX_CONNECTIONS_PER_KEY": str(clients),
            }
            gateway = ServiceProcess("bench-stream-gateway", "tradewind.gateway", port, env).start()
            await gateway.wait_ready()
            async with open_key_store(gateway_db, infra.redis_url, infra.namespace) as store:
                key = (await store.create("bench")).secret

            publisher = await aio_pika.connect_robust(infra.amqp_url)
            connections.append(publisher)
            channel = await publisher.channel(publisher_confirms=False)
            exchange = await channel.get_exchange(f"{infra.namespace}.events")

            system = Latencies()
            ready_events = [asyncio.Event() for _ in range(clients)]
            url = f"ws://127.0.0.1:{port}/api/v1/stream"
            tasks += [asyncio.create_task(ws_client(url, key, system, e)) for e in ready_events]
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in ready_events)), 30)

            baseline = Latencies()
            consumer = await aio_pika.connect_robust(infra.amqp_url)
            connections.append(consumer)
            for _ in range(clients):
                consumer_channel = await consumer.channel()
                queue = await consumer_channel.declare_queue(exclusive=True, auto_delete=True)
                await queue.bind(f"{infra.namespace}.events", BASELINE_KEY)

                async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
                    baseline.received(json.loads(message.body)["data"]["sequence"])

                await queue.consume(on_message, no_ack=True)

            rows = []
            sequence = 1
            for rate in rates:
                system_result = await run(
                    "system", exchange, SYSTEM_KEY, system, rate, seconds, clients, sequence
                )
                sequence += int(rate * seconds)
                base = await run(
                    "baseline", exchange, BASELINE_KEY, baseline, rate, seconds, clients, sequence
                )
                sequence += int(rate * seconds)
                rows.append((system_result, base))
            return rows
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for connection in connections:
                await connection.close()
            if gateway is not None:
                gateway.stop()
            await infra.drop_databases()
            await infra.delete_redis_keys()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--rates", default="20,50,100")
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    rows = asyncio.run(bench(args.clients, [float(r) for r in args.rates.split(",")], args.seconds))
    report = table(rows)
    sys.stdout.write(
        f"\nquote fan-out to {args.clients} clients: gateway WebSocket (system) vs "
        "one AMQP queue per client (baseline); thr = frames delivered per second\n"
    )
    sys.stdout.write(report + "\n")
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / "stream.txt").write_text(report + "\n")


if __name__ == "__main__":
    main()
