"""Webhook delivery benchmark: 1, then 2 webhooks processes on the local RabbitMQ and PostgreSQL.

For each process count (``--processes 1,2``), on a fresh namespace and database: signed
deliveries per second to a local aiohttp receiver (a burst of events published at once), the
event-to-delivery latency (publish on the bus → signed POST arriving) at a paced rate, and, over
the burst, the CPU milliseconds per delivery of each webhooks process, of PostgreSQL, RabbitMQ and
this process (publisher and receiver), and how many of the machine's cores were busy (/proc).
The receiver verifies every signature and counts each (endpoint, ``webhook-id``) and each
(endpoint, event) once: a second arrival is a duplicate (must be 0). In the same run a baseline:
the same number of signed POSTs sent directly with aiohttp at the same concurrency. Prints a table
with the ratios.
Uses its own namespaces and databases and removes them when it ends.

    uv run python bench/webhooks_bench.py [--processes 1,2] [--events 1000] [--endpoints 4]
        [--rate 100]
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
from orders_saturation_bench import machine_busy_seconds, system_pids
from stack import CpuMeter, scrape

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
    count: int = 0  # first arrivals of this phase (duplicates not counted)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    expected: int = 0
    # Kept for the whole run: an (endpoint, webhook-id) or an (endpoint, order id) arriving a
    # second time is a double effect at the partner, whichever process sent it and whenever.
    # (The webhook-id is the message's: the endpoints one event fans out to share it.)
    webhook_ids: set[tuple[str, str]] = field(default_factory=set)
    deliveries: set[tuple[str, str]] = field(default_factory=set)
    duplicate_ids: int = 0
    duplicate_deliveries: int = 0

    def expect(self, count: int) -> None:
        self.arrivals.clear()
        self.count = 0
        self.expected = count
        self.done.clear()

    def first_time(self, webhook_id: str, order_id: str, path: str) -> bool:
        """Record an arrival; False (and counted as a duplicate) if it was seen before."""
        repeated_id = (path, webhook_id) in self.webhook_ids
        repeated_delivery = (path, order_id) in self.deliveries
        self.duplicate_ids += repeated_id
        self.duplicate_deliveries += repeated_delivery
        self.webhook_ids.add((path, webhook_id))
        self.deliveries.add((path, order_id))
        return not (repeated_id or repeated_delivery)

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
        if not self.first_time(request.headers["webhook-id"], order_id, request.match_info["path"]):
            return web.Response(text="ok")  # acknowledged, as a partner deduplicating would
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
    await asyncio.wait_for(receiver.done.wait(), timeout=60)
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
    """``processes`` webhooks processes on one namespace and database (competing consumers of
    one queue, dispatchers claiming from one table), each on its own HTTP port."""

    namespace: str
    database: str
    processes: int
    concurrency: int
    endpoint_concurrency: int
    ports: list[int] = field(default_factory=list)
    running: list[asyncio.subprocess.Process] = field(default_factory=list)
    created: bool = False

    @property
    def database_url(self) -> str:
        parts = urlsplit(POSTGRES_ADMIN)
        return urlunsplit(parts._replace(scheme="postgresql+asyncpg", path=f"/{self.database}"))

    @property
    def base_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.ports]

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self.running]

    async def start(self, log_path: Path) -> None:
        admin = await asyncpg.connect(POSTGRES_ADMIN)
        try:
            await admin.execute(f'CREATE DATABASE "{self.database}"')
            self.created = True
        finally:
            await admin.close()
        # One after the other: the first applies the migrations, the others find them done.
        for _ in range(self.processes):
            await self._start_one(log_path)

    async def _start_one(self, log_path: Path) -> None:
        port = free_port()
        env = {
            **os.environ,
            "TRADEWIND_NAMESPACE": self.namespace,
            "TRADEWIND_AMQP_URL": AMQP_URL,
            "TRADEWIND_LOG_LEVEL": "WARNING",
            "TRADEWIND_WEBHOOKS_PORT": str(port),
            "TRADEWIND_WEBHOOKS_DATABASE_URL": self.database_url,
            "TRADEWIND_WEBHOOKS_ALLOW_SUBNETS": "127.0.0.0/8",
            "TRADEWIND_WEBHOOKS_HTTPS_ONLY": "false",
            "TRADEWIND_WEBHOOKS_MAX_IN_FLIGHT": str(self.concurrency),
            "TRADEWIND_WEBHOOKS_ENDPOINT_CONCURRENCY": str(self.endpoint_concurrency),
            "TRADEWIND_INTERNAL_TOKEN": INTERNAL_TOKEN,
            "TRADEWIND_WEBHOOKS_SECRET_KEYS": SECRET_KEY,
        }
        with log_path.open("ab") as sink:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tradewind.webhooks", env=env, stdout=sink, stderr=sink
            )
        self.running.append(process)
        self.ports.append(port)
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                if process.returncode is not None:
                    raise RuntimeError(f"webhooks exited; see {log_path}")
                with contextlib.suppress(httpx.HTTPError):
                    if (
                        await client.get(f"http://127.0.0.1:{port}/health/ready")
                    ).status_code == 200:
                        return
                await asyncio.sleep(0.2)
        raise RuntimeError(f"webhooks not ready in 60 s; see {log_path}")

    async def succeeded_attempts(self) -> list[float]:
        """Successful delivery attempts each process has counted so far (its /metrics)."""
        return [
            await scrape(url, "tradewind_webhook_attempts_total", outcome="succeeded")
            for url in self.base_urls
        ]

    async def stop(self) -> None:
        if not self.created:
            return
        self.created = False
        for process in self.running:
            if process.returncode is None:
                process.terminate()
        for process in self.running:
            try:
                await asyncio.wait_for(process.wait(), 20)
            except TimeoutError:
                process.kill()
                await process.wait()
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


@dataclass
class Measured:
    """One process count: the burst, the paced phase, and what the burst cost."""

    processes: int
    throughput: Result
    latency: Result
    cpu_ms_per_delivery: dict[str, float]  # "webhooks#1", …, "postgres", "rabbitmq", "bench"
    cores_busy: float  # the machine's cores not idle during the burst, on average
    deliveries_per_process: list[int]

    @property
    def other_cores(self) -> float:
        """Cores busy with what the measured processes do not explain (other users' work, the
        kernel's): how undisturbed the burst was."""
        measured_ms_per_s = sum(self.cpu_ms_per_delivery.values()) * self.throughput.per_second
        return self.cores_busy - measured_ms_per_s / 1000


async def measure(
    args: argparse.Namespace, processes: int, receiver: Receiver, receiver_port: int
) -> Measured:
    """Fresh namespace, database and processes; endpoints; warm-up, burst, paced phase."""
    run_id = uuid.uuid4().hex[:8]
    deployment = Deployment(
        namespace=f"bench{run_id}",
        database=f"tw_bench_{run_id}_webhooks",
        processes=processes,
        concurrency=args.concurrency,
        endpoint_concurrency=args.endpoint_concurrency,
    )
    log_path = Path(tempfile.gettempdir()) / f"webhooks-bench-{run_id}.log"
    try:
        await deployment.start(log_path)
        async with httpx.AsyncClient(
            base_url=deployment.base_urls[0], headers={"X-Internal-Token": INTERNAL_TOKEN}
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
            names = [f"webhooks#{n}" for n in range(1, processes + 1)]
            meter = CpuMeter.of_groups(
                {
                    **{name: [pid] for name, pid in zip(names, deployment.pids, strict=True)},
                    **system_pids(),
                    "bench": [os.getpid()],
                }
            )
            attempts_before = await deployment.succeeded_attempts()
            busy_before = machine_busy_seconds()
            meter.start()
            throughput = await run_phase(receiver, args.events, args.endpoints, 0, publish)
            cpu = meter.stop()
            cores_busy = (machine_busy_seconds() - busy_before) / throughput.seconds
            attempts_after = await deployment.succeeded_attempts()
            latency = await run_phase(
                receiver, args.latency_events, args.endpoints, args.rate, publish
            )
        finally:
            await broker.close()
    finally:
        await deployment.stop()
    return Measured(
        processes=processes,
        throughput=throughput,
        latency=latency,
        cpu_ms_per_delivery={
            name: 1000 * used / throughput.deliveries for name, used in cpu.items()
        },
        cores_busy=cores_busy,
        deliveries_per_process=[
            round(after - before)
            for before, after in zip(attempts_before, attempts_after, strict=True)
        ],
    )


async def direct_baseline(
    args: argparse.Namespace, receiver: Receiver, receiver_port: int
) -> tuple[Result, Result]:
    """The same signed POSTs, sent by this process with aiohttp at the same concurrency."""
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
        throughput = await run_phase(receiver, args.events, args.endpoints, 0, post_directly)
        latency = await run_phase(
            receiver, args.latency_events, args.endpoints, args.rate, post_directly
        )
    return throughput, latency


async def bench(args: argparse.Namespace) -> None:
    receiver = Receiver()
    runner, receiver_port = await start_receiver(receiver)
    try:
        measured = [
            await measure(args, processes, receiver, receiver_port) for processes in args.processes
        ]
        direct_throughput, direct_latency = await direct_baseline(args, receiver, receiver_port)
    finally:
        await runner.cleanup()
    report(args, measured, direct_throughput, direct_latency, receiver)


def report(
    args: argparse.Namespace,
    measured: list[Measured],
    direct_throughput: Result,
    direct_latency: Result,
    receiver: Receiver,
) -> None:
    first = measured[0]
    lines = [
        f"webhooks bench: {args.events} events x {args.endpoints} endpoints "
        f"= {first.throughput.deliveries} deliveries per burst, concurrency {args.concurrency} "
        f"per process and {args.endpoint_concurrency} per endpoint, "
        f"paced phase {args.latency_events} events at {args.rate:g}/s; "
        f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}",
        f"bad signatures: {receiver.bad_signatures}; duplicates: "
        f"{receiver.duplicate_ids} (endpoint, webhook-id), "
        f"{receiver.duplicate_deliveries} (endpoint, event)",
        "",
        f"{'processes':<11}{'deliveries/s':>13}{'vs first':>9}{'vs direct':>10}"
        f"{'burst p50/p99 ms':>18}{f'{args.rate:g} ev/s p50/p99 ms':>22}"
        f"{'cores busy (other)':>19}  deliveries per process",
    ]
    for m in measured:
        lines.append(
            f"{m.processes:<11}{m.throughput.per_second:>13.0f}"
            f"{m.throughput.per_second / first.throughput.per_second:>9.2f}"
            f"{m.throughput.per_second / direct_throughput.per_second:>10.2f}"
            f"{f'{m.throughput.percentile(50):.0f} / {m.throughput.percentile(99):.0f}':>18}"
            f"{f'{m.latency.percentile(50):.1f} / {m.latency.percentile(99):.1f}':>22}"
            f"{f'{m.cores_busy:.2f} ({m.other_cores:.2f})':>19}  "
            + " / ".join(str(n) for n in m.deliveries_per_process)
        )
    lines.append(
        f"{'direct':<11}{direct_throughput.per_second:>13.0f}{'':>9}{'':>10}"
        f"{f'{direct_throughput.percentile(50):.0f} / {direct_throughput.percentile(99):.0f}':>18}"
        f"{f'{direct_latency.percentile(50):.1f} / {direct_latency.percentile(99):.1f}':>22}"
    )
    # CPU per delivery moves far less than throughput on a machine shared with other work.
    lines += ["", "CPU ms per delivery over the burst (webhooks: each process, then their sum)"]
    for m in measured:
        cpu = m.cpu_ms_per_delivery
        each = [cpu[f"webhooks#{n}"] for n in range(1, m.processes + 1)]
        lines.append(
            f"{m.processes} process(es): webhooks {' + '.join(f'{ms:.2f}' for ms in each)}"
            f" = {sum(each):.2f}; postgres {cpu['postgres']:.2f}; rabbitmq {cpu['rabbitmq']:.2f};"
            f" bench (publisher, receiver) {cpu['bench']:.2f}; all {sum(cpu.values()):.2f}"
        )
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    results = Path(__file__).resolve().parent / "results"
    results.mkdir(exist_ok=True)
    (results / "webhooks.txt").write_text(text)


def process_counts(text: str) -> list[int]:
    counts = [int(part) for part in text.split(",")]
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError("process counts are positive integers, e.g. 1,2")
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--processes", type=process_counts, default=[1, 2], help="webhooks processes per phase"
    )
    parser.add_argument("--events", type=int, default=1000, help="events in the burst")
    parser.add_argument("--endpoints", type=int, default=4, help="endpoints (fan-out per event)")
    parser.add_argument(
        "--concurrency", type=int, default=64, help="attempts in flight per process"
    )
    parser.add_argument("--rate", type=float, default=100, help="events/s in the paced phase")
    parser.add_argument("--latency-events", type=int, default=500, help="events, paced phase")
    parser.add_argument(
        "--endpoint-concurrency",
        type=int,
        help="attempts in flight per endpoint, across processes (default: enough for the largest "
        "process count to fill every process's --concurrency)",
    )
    args = parser.parse_args()
    if args.endpoint_concurrency is None:
        # The per-endpoint bound holds across processes: sized from one process's, it would cap
        # two processes at one process's attempts in flight.
        args.endpoint_concurrency = max(1, args.concurrency * max(args.processes) // args.endpoints)
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(bench(args))


if __name__ == "__main__":
    main()
