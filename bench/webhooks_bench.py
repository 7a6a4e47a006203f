"""Webhook delivery benchmark: one webhooks process against the local RabbitMQ and PostgreSQL.

Measures signed deliveries per second to a local aiohttp receiver and the event-to-delivery
latency (publish on the bus → signed POST arriving), and in the same run a baseline: the same
number of signed POSTs sent directly with aiohttp at the same concurrency. Prints a table with
the ratios. Uses its own namespace and database and removes both when it ends.

    uv run python bench/webhooks_bench.py [--events 1000] [--endpoints 4] [--rate 200]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import os
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import aiohttp
import asyncpg
import httpx
from aiohttp import web

from tradewind.common.broker import Broker, Topology
from tradewind.common.contracts import OrderAccepted, OrderSnapshot
from tradewind.common.contracts.types import OrderStatus, OrderType, Side, TimeInForce
from tradewind.common.envelope import new_event
from tradewind.webhooks.domain.signing import build_headers

log = logging.getLogger("webhooks_bench")

POSTGRES_ADMIN = os.environ.get(
    "TRADEWIND_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
AMQP_URL = os.environ.get("TRADEWIND_BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
# The service's internal routes require a token; this run sets it and sends it.
INTERNAL_TOKEN = "bench-internal-token"
SECRET_KEY = "2-DDMgMUUAhZrAUxJG8N8vgJSAu9pFTcn3912F9AOYE="  # encrypts endpoint secrets at rest
ACCOUNT = "bench-account"


# --- the partner's receiver: verifies every signature, records arrival per order id ---


@dataclass
class Receiver:
    secrets: dict[str, bytes] = field(default_factory=dict)  # path -> raw key
    arrivals: dict[str, list[float]] = field(default_factory=dict)  # order id -> arrival times
    bad_signatures: int = 0
    count: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)
    expected: int = 0

    def expect(self, count: int) -> None:
        self.arrivals.clear()
        self.count = 0
        self.expected = count
        self.done.clear()

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        arrived = time.perf_counter()
        key = self.secrets[request.match_info["path"]]
        signed = f"{request.headers['webhook-id']}.{request.headers['webhook-timestamp']}.".encode()
        expected = base64.b64encode(hmac.new(key, signed + body, hashlib.sha256).digest())
        offered = [
            s.partition(",")[2].encode() for s in request.headers["webhook-signature"].split()
        ]
        if not any(hmac.compare_digest(expected, s) for s in offered):
            self.bad_signatures += 1
        order_id = json.loads(body)["data"]["order"]["id"]
        self.arrivals.setdefault(order_id, []).append(arrived)
        self.count += 1
        if self.count >= self.expected:
            self.done.set()
        return web.Response(text="ok")


async def start_receiver(receiver: Receiver) -> tuple[web.AppRunner, int]:
    app = web.Application()
    app.router.add_post("/{path}", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    port: int = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, port


# --- events ---


def order_event(order_id: uuid.UUID) -> bytes:
    now = datetime.now(UTC)
    snapshot = OrderSnapshot(
        id=order_id,
        account_id=ACCOUNT,
        client_order_id=None,
        symbol="AAPL",
        side=Side.BUY,
        type=OrderType.LIMIT,
        qty=Decimal("10"),
        limit_price=Decimal("190.5"),
        time_in_force=TimeInForce.DAY,
        status=OrderStatus.NEW,
        filled_qty=Decimal("0"),
        submitted_at=now,
        created_at=now,
        updated_at=now,
        accepted_at=now,
        version=2,
    )
    event = new_event(
        source="/orders",
        data=OrderAccepted(order=snapshot),
        event_type=OrderAccepted.TYPE,
        subject=str(order_id),
        account_id=ACCOUNT,
    )
    return event.model_dump_json(exclude_none=True).encode()


# --- measurements ---


@dataclass
class Result:
    deliveries: int
    seconds: float
    latencies_ms: list[float]

    @property
    def per_second(self) -> float:
        return self.deliveries / self.seconds

    def percentile(self, q: int) -> float:
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[q - 1]


async def paced(count: int, rate: float, send: Callable[[int], Coroutine[Any, Any, None]]) -> None:
    """Start ``send(i)`` at ``rate`` per second (all at once when rate is 0)."""
    tasks: list[asyncio.Task[None]] = []
    started = time.perf_counter()
    for i in range(count):
        if rate > 0:
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send(i)))
    await asyncio.gather(*tasks)


async def run_phase(
    receiver: Receiver,
    events: int,
    fan_out: int,
    rate: float,
    send_event: Callable[[uuid.UUID], Awaitable[None]],
) -> Result:
    receiver.expect(events * fan_out)
    published: dict[str, float] = {}
    order_ids = [uuid.uuid4() for _ in range(events)]

    async def send(i: int) -> None:
        published[str(order_ids[i])] = time.perf_counter()
        await send_event(order_ids[i])

    started = time.perf_counter()
    await paced(events, rate, send)
    await asyncio.wait_for(receiver.done.wait(), timeout=300)
    seconds = time.perf_counter() - started
    latencies = [
        (arrived - published[order_id]) * 1000
        for order_id, times in receiver.arrivals.items()
        for arrived in times
    ]
    return Result(receiver.count, seconds, latencies)


# --- the webhooks service under test ---


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Deployment:
    namespace: str
    database: str
    port: int
    concurrency: int
    endpoint_concurrency: int
    process: asyncio.subprocess.Process | None = None
    created: bool = False

    @property
    def database_url(self) -> str:
        parts = urlsplit(POSTGRES_ADMIN)
        return urlunsplit(parts._replace(scheme="postgresql+asyncpg", path=f"/{self.database}"))

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, log_path: Path) -> None:
        admin = await asyncpg.connect(POSTGRES_ADMIN)
        try:
            await admin.execute(f'CREATE DATABASE "{self.database}"')
            self.created = True
        finally:
            await admin.close()
        env = {
            **os.environ,
            "TRADEWIND_NAMESPACE": self.namespace,
            "TRADEWIND_AMQP_URL": AMQP_URL,
            "TRADEWIND_LOG_LEVEL": "WARNING",
            "TRADEWIND_WEBHOOKS_PORT": str(self.port),
            "TRADEWIND_WEBHOOKS_DATABASE_URL": self.database_url,
            "TRADEWIND_WEBHOOKS_ALLOW_SUBNETS": "127.0.0.0/8",
            "TRADEWIND_WEBHOOKS_HTTPS_ONLY": "false",
            "TRADEWIND_WEBHOOKS_MAX_IN_FLIGHT": str(self.concurrency),
            "TRADEWIND_WEBHOOKS_ENDPOINT_CONCURRENCY": str(self.endpoint_concurrency),
            "TRADEWIND_INTERNAL_TOKEN": INTERNAL_TOKEN,
            "TRADEWIND_WEBHOOKS_SECRET_KEYS": SECRET_KEY,
        }
        with log_path.open("ab") as sink:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tradewind.webhooks", env=env, stdout=sink, stderr=sink
            )
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                if self.process.returncode is not None:
                    raise RuntimeError(f"webhooks exited; see {log_path}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{self.base_url}/health/ready")).status_code == 200:
                        return
                await asyncio.sleep(0.2)
        raise RuntimeError(f"webhooks not ready in 60 s; see {log_path}")

    def cpu_seconds(self) -> float:
        """User and system CPU the webhooks process has used so far (Linux /proc)."""
        assert self.process is not None
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
        return ticks / os.sysconf("SC_CLK_TCK")

    async def stop(self) -> None:
        if not self.created:
            return
        self.created = False
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 20)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        admin = await asyncpg.connect(POSTGRES_ADMIN)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        finally:
            await admin.close()
        await delete_namespace(self.namespace)


async def delete_namespace(namespace: str) -> None:
    """Remove every exchange and queue the run declared under its namespace."""
    topology = Topology(namespace)
    queues = [
        topology.unrouted_events,
        *(topology.wait_queue(d) for d in topology.retry_delays_ms),
        topology.queue_name("webhooks", "events"),
        topology.queue_name("webhooks", "events") + ".parked",
    ]
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        for queue in queues:
            channel = await connection.channel()
            with contextlib.suppress(aio_pika.exceptions.AMQPError):
                await channel.queue_delete(queue)
        for exchange, _kind in topology.exchanges():
            channel = await connection.channel()
            with contextlib.suppress(aio_pika.exceptions.AMQPError):
                await channel.exchange_delete(exchange)


# --- the run ---


async def bench(args: argparse.Namespace) -> None:
    run_id = uuid.uuid4().hex[:8]
    deployment = Deployment(
        namespace=f"bench{run_id}",
        database=f"tw_bench_{run_id}_webhooks",
        port=free_port(),
        concurrency=args.concurrency,
        endpoint_concurrency=max(1, args.concurrency // args.endpoints),
    )
    receiver = Receiver()
    runner, receiver_port = await start_receiver(receiver)
    log_path = Path(tempfile.gettempdir()) / f"webhooks-bench-{run_id}.log"
    try:
        await deployment.start(log_path)
        async with httpx.AsyncClient(
            base_url=deployment.base_url, headers={"X-Internal-Token": INTERNAL_TOKEN}
        ) as api:
            for i in range(args.endpoints):
                created = await api.post(
                    f"/internal/v1/accounts/{ACCOUNT}/webhooks/endpoints",
                    json={"url": f"http://127.0.0.1:{receiver_port}/ep{i}"},
                )
                created.raise_for_status()
                receiver.secrets[f"ep{i}"] = base64.b64decode(
                    created.json()["secret"].removeprefix("whsec_")
                )
        broker = Broker(AMQP_URL, Topology(deployment.namespace), service="bench-publisher")
        await broker.connect()
        try:

            async def publish(order_id: uuid.UUID) -> None:
                body = order_event(order_id)
                await broker.publish(
                    broker.topology.events,
                    OrderAccepted.TYPE,
                    body,
                    message_id=str(uuid.uuid4()),
                    message_type=OrderAccepted.TYPE,
                )

            await run_phase(receiver, 50, args.endpoints, 0, publish)  # warm-up
            cpu_before = deployment.cpu_seconds()
            throughput = await run_phase(receiver, args.events, args.endpoints, 0, publish)
            cpu_ms_per_delivery = (
                (deployment.cpu_seconds() - cpu_before) * 1000 / throughput.deliveries
            )
            latency = await run_phase(
                receiver, args.latency_events, args.endpoints, args.rate, publish
            )
        finally:
            await broker.close()
        await deployment.stop()

        direct_secrets = {
            path: "whsec_" + base64.b64encode(k).decode() for path, k in receiver.secrets.items()
        }
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=args.concurrency)
        ) as session:
            gate = asyncio.Semaphore(args.concurrency)

            async def post_directly(order_id: uuid.UUID) -> None:
                body = json.dumps(
                    {
                        "type": "order.accepted",
                        "timestamp": datetime.now(UTC).isoformat(),
                        "data": json.loads(order_event(order_id))["data"],
                    },
                    separators=(",", ":"),
                ).encode()

                async def one(path: str) -> None:
                    async with gate:
                        message_id = "msg_" + uuid.uuid4().hex
                        headers = build_headers(
                            [direct_secrets[path]], message_id, int(time.time()), body
                        )
                        url = f"http://127.0.0.1:{receiver_port}/{path}"
                        async with session.post(url, data=body, headers=headers) as response:
                            await response.read()

                await asyncio.gather(*(one(path) for path in direct_secrets))

            await run_phase(receiver, 50, args.endpoints, 0, post_directly)  # warm-up
            direct_throughput = await run_phase(
                receiver, args.events, args.endpoints, 0, post_directly
            )
            direct_latency = await run_phase(
                receiver, args.latency_events, args.endpoints, args.rate, post_directly
            )
    finally:
        await deployment.stop()
        await runner.cleanup()
    report(
        args,
        throughput,
        latency,
        direct_throughput,
        direct_latency,
        receiver.bad_signatures,
        cpu_ms_per_delivery,
    )


def report(
    args: argparse.Namespace,
    throughput: Result,
    latency: Result,
    direct_throughput: Result,
    direct_latency: Result,
    bad_signatures: int,
    cpu_ms_per_delivery: float,
) -> None:
    rows = [
        ("signed deliveries/s (burst)", throughput.per_second, direct_throughput.per_second),
        ("p50 latency ms (burst)", throughput.percentile(50), direct_throughput.percentile(50)),
        ("p99 latency ms (burst)", throughput.percentile(99), direct_throughput.percentile(99)),
        (
            f"p50 latency ms ({args.rate:g} ev/s)",
            latency.percentile(50),
            direct_latency.percentile(50),
        ),
        (
            f"p99 latency ms ({args.rate:g} ev/s)",
            latency.percentile(99),
            direct_latency.percentile(99),
        ),
    ]
    lines = [
        f"webhooks bench: {args.events} events x {args.endpoints} endpoints "
        f"= {throughput.deliveries} deliveries per burst, concurrency {args.concurrency}, "
        f"paced phase {args.latency_events} events at {args.rate:g}/s; "
        f"bad signatures: {bad_signatures}; load average {os.getloadavg()[0]:.1f}",
        f"{'metric':<34}{'webhooks':>12}{'direct aiohttp':>16}{'ratio':>9}",
    ]
    for name, measured, baseline in rows:
        lines.append(f"{name:<34}{measured:>12.1f}{baseline:>16.1f}{measured / baseline:>9.2f}")
    # CPU per delivery moves far less than throughput on a machine shared with other work.
    lines.append(f"{'webhooks CPU ms per delivery (burst)':<34}{cpu_ms_per_delivery:>12.2f}")
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    results = Path(__file__).resolve().parent / "results"
    results.mkdir(exist_ok=True)
    (results / "webhooks.txt").write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1000, help="events in the burst")
    parser.add_argument("--endpoints", type=int, default=4, help="endpoints (fan-out per event)")
    parser.add_argument("--concurrency", type=int, default=64, help="attempts in flight")
    parser.add_argument("--rate", type=float, default=100, help="events/s in the paced phase")
    parser.add_argument("--latency-events", type=int, default=500, help="events, paced phase")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(bench(args))


if __name__ == "__main__":
    main()
