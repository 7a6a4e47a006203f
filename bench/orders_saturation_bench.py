"""`make bench` (orders under saturation): how many orders/s the system accepts end to end.

Three measurements, one run, one machine:

1. **Raw broker** (baseline): one aio-pika publisher, confirms pipelined, into a quorum queue.
2. **Bare endpoint** (baseline): ``wrk -t2 -c64`` on a bare FastAPI endpoint (uvloop, httptools)
   doing one confirmed publish into a quorum queue; no auth, no validation, no consumer.
3. **System**: ``wrk -t2 -c64`` on the gateway's POST /api/v1/orders (API key, validation,
   confirmed command, pending view), with the orders and webhooks services consuming as under
   `make run`. A consumer here counts ``order.accepted`` events: the rate orders become
   accepted is the figure, and the ratio to (1) says how close the system comes to the broker.
   CPU seconds of every process over the window give the CPU cost per order of each.

Then open-loop runs give the place → ``order.accepted`` latency: at half the accepted rate, and
at 300/s (half the issue's 600/s target), a rate that does not move with the saturated run.

    uv run python bench/orders_saturation_bench.py [--seconds 10] [--connections 64]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import aio_pika

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from loadgen import ORDER  # noqa: E402
from stack import (  # noqa: E402
    CpuMeter,
    Stack,
    baseline_endpoint,
    list_instrument,
    run_wrk,
    scrape,
)

from support.commands import command_message  # noqa: E402
from support.infra import Infra, provision  # noqa: E402
from support.internal import INTERNAL_TOKEN  # noqa: E402
from tradewind.common.contracts import PlaceOrder  # noqa: E402
from tradewind.common.contracts.types import OrderType, Side, TimeInForce  # noqa: E402
from tradewind.common.envelope import CloudEvent, new_event  # noqa: E402

# Issue 7's target for orders accepted end to end under saturation, per second.
TARGET_RATE = 600.0


async def raw_publish_rate(infra: Infra, seconds: float, window: int = 256) -> float:
    """Confirmed publishes/s into a quorum queue from one publisher keeping ``window`` in flight."""
    connection = await aio_pika.connect(infra.amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        queue = await channel.declare_queue(
            f"{infra.namespace}.bench.raw", durable=True, arguments={"x-queue-type": "quorum"}
        )
        body = json.dumps(ORDER).encode() * 4  # about the size of a place command
        confirmed = 0
        deadline = time.perf_counter() + seconds
        in_flight: set[asyncio.Future[object]] = set()
        started = time.perf_counter()
        while time.perf_counter() < deadline:
            while len(in_flight) < window:
                message = aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
                in_flight.add(
                    asyncio.ensure_future(
                        channel.default_exchange.publish(message, routing_key=queue.name)
                    )
                )
            done, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
            confirmed += len(done)
        await asyncio.gather(*in_flight)
        confirmed += len(in_flight)
        elapsed = time.perf_counter() - started
        await queue.delete(if_unused=False, if_empty=False)
    return confirmed / elapsed


class AcceptedCounter:
    """Counts ``order.accepted`` events and remembers when each order's arrived."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.connection: aio_pika.abc.AbstractRobustConnection | None = None

    async def start(self, infra: Infra) -> None:
        self.connection = await aio_pika.connect_robust(infra.amqp_url)
        channel = await self.connection.channel()
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(f"{infra.namespace}.events", "order.accepted")

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            order_id = json.loads(message.body)["data"]["order"]["id"]
            self.arrived[order_id] = time.perf_counter()

        # No acks: a counter that loses nothing but its own queue needs none, and an ack per
        # event cost the broker (whose CPU the report charges to the system) and this process.
        await queue.consume(on_message, no_ack=True)

    def between(self, start: float, end: float) -> int:
        return sum(1 for at in self.arrived.values() if start <= at <= end)

    async def close(self) -> None:
        if self.connection is not None:
            await self.connection.close()


async def wait_until(predicate: object, timeout: float) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if predicate():  # type: ignore[operator]
            break
        await asyncio.sleep(0.05)
    return time.perf_counter() - started


def place_commands(
    count: int,
    symbols: Sequence[str] = ("AAPL",),
    accounts: Sequence[str] = ("bench",),
    sides: Sequence[Side] = (Side.BUY,),
) -> list[CloudEvent]:
    """Place commands as the gateway would publish them (a resting gtc limit order of 1 at 150
    each; by default a buy of AAPL for account ``bench``). With several symbols, accounts or
    sides, each command draws one of each from a generator seeded the same in every run."""
    draw = random.Random(0)

    def place(symbol: str, account: str, side: Side) -> CloudEvent:
        return new_event(
            source="/bench/gateway",
            data=PlaceOrder(
                order_id=uuid.uuid4(),
                account_id=account,
                symbol=symbol,
                side=side,
                type=OrderType.LIMIT,
                qty=Decimal(1),
                limit_price=Decimal(150),
                time_in_force=TimeInForce.GTC,
                submitted_at=datetime.now(UTC),
            ),
            event_type=PlaceOrder.TYPE,
            account_id=account,
        )

    return [
        place(draw.choice(symbols), draw.choice(accounts), draw.choice(sides)) for _ in range(count)
    ]


async def publish_commands(
    exchange: aio_pika.abc.AbstractExchange, commands: Sequence[CloudEvent], chunk: int = 500
) -> None:
    """Publish ``commands`` to the commands exchange, routed by type, persistent, ``chunk`` at a
    time with their confirms awaited together."""
    for start in range(0, len(commands), chunk):
        await asyncio.gather(
            *(
                exchange.publish(
                    command_message(command),
                    routing_key=command.type,
                )
                for command in commands[start : start + chunk]
            )
        )


@dataclass(frozen=True)
class AloneResult:
    accepted_per_s: float
    cpu_ms_per_order: dict[str, float]
    mean_batch: float
    mean_batch_ms: float
    ready_ms: list[float]
    read_ms: list[float]
    ready_within: float
    """The share of readiness answers within ``SERVED_WITHIN_S`` by the service's own clock."""
    read_within: float


# The bound for readiness and reads at full load.
SERVED_WITHIN_S = 0.05
READY_ROUTE = "/health/ready"
READ_ROUTE = "/internal/v1/accounts/{account_id}/orders/{order_id}"


async def served_within(url: str, route: str) -> tuple[float, float]:
    """GET ``route``'s answers so far within ``SERVED_WITHIN_S``, and all of them, by the
    service's latency histogram: its edge layer's clock, from the app seeing the request to the
    answer. It cannot see a request's wait in its socket for the event loop, nor the probe's wait
    for a core: set against the probe's figure, it says where a slow answer's time went."""
    labels = {"method": "GET", "route": route}
    within = await scrape(
        url, "tradewind_http_request_seconds_bucket", **labels, le=str(SERVED_WITHIN_S)
    )
    return within, await scrape(url, "tradewind_http_request_seconds_count", **labels)


def share(before: tuple[float, float], after: tuple[float, float]) -> float:
    answered = after[1] - before[1]
    return (after[0] - before[0]) / answered if answered else float("nan")


class Probe:
    """bench/latency_probe.py in its own process, GETting ``url`` until stopped."""

    def __init__(self, url: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "latency_probe.py"), url],
            env={"TRADEWIND_INTERNAL_TOKEN": INTERNAL_TOKEN, **os.environ},
            stdout=subprocess.PIPE,
            text=True,
        )

    def stop(self) -> list[float]:
        self.process.send_signal(signal.SIGINT)
        output, _ = self.process.communicate(timeout=30)
        latencies: list[float] = json.loads(output)
        return latencies


async def orders_alone(
    infra: Infra, counter: AcceptedCounter, stack: Stack, count: int, profile: Path | None
) -> AloneResult:
    """Publish ``count`` commands straight to the broker, as fast as it confirms them, and time
    how fast the orders service turns them into published ``order.accepted`` events."""
    commands = place_commands(count)
    wanted = {command.data["order_id"] for command in commands}
    queue = {"queue": f"{infra.namespace}.orders.commands"}
    url = stack.url("orders")
    batches_before = await scrape(url, "tradewind_message_batch_size_count", **queue)
    messages_before = await scrape(url, "tradewind_message_batch_size_sum", **queue)
    seconds_before = await scrape(url, "tradewind_message_handler_seconds_sum", **queue)
    read_url = f"{url}/internal/v1/accounts/bench/orders/{commands[0].data['order_id']}"
    ready_before = await served_within(url, READY_ROUTE)
    read_before = await served_within(url, READ_ROUTE)
    ready_probe, read_probe = Probe(f"{url}/health/ready"), Probe(read_url)
    connection = await aio_pika.connect(infra.amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(f"{infra.namespace}.commands")
        meter = CpuMeter.of_groups({"orders": [stack.pid("orders")], **system_pids()})
        profiler = None
        if profile is not None:
            profiler = await asyncio.to_thread(
                start_profiler, stack.pid("orders"), profile / "orders-alone.txt"
            )
        meter.start()
        started = time.perf_counter()
        await publish_commands(exchange, commands)
        await wait_until(lambda: wanted <= counter.arrived.keys(), 120)
        last = max(counter.arrived[order_id] for order_id in wanted)
        cpu = meter.stop()
        ready_ms = await asyncio.to_thread(ready_probe.stop)
        read_ms = await asyncio.to_thread(read_probe.stop)
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)
            await asyncio.to_thread(profiler.wait)
    batches = await scrape(url, "tradewind_message_batch_size_count", **queue) - batches_before
    messages = await scrape(url, "tradewind_message_batch_size_sum", **queue) - messages_before
    seconds = await scrape(url, "tradewind_message_handler_seconds_sum", **queue) - seconds_before
    ready_after = await served_within(url, READY_ROUTE)
    read_after = await served_within(url, READ_ROUTE)
    return AloneResult(
        count / (last - started),
        {name: 1000 * used / count for name, used in cpu.items()},
        messages / max(batches, 1),
        1000 * seconds / max(batches, 1),
        ready_ms,
        read_ms,
        share(ready_before, ready_after),
        share(read_before, read_after),
    )


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    if not ordered:
        return "no samples"
    p50 = ordered[len(ordered) // 2]
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return f"p50 {p50:.1f} ms, p99 {p99:.1f} ms ({len(ordered)} samples)"


@dataclass(frozen=True)
class LatencyResult:
    rate: float
    sent: int
    accepted: int
    p50_ms: float
    p99_ms: float
    # The two legs: the gateway's answer (POST → 202, the command confirmed by the broker), and
    # the rest (202 → order.accepted: the orders consumer, its commit, the outbox relay).
    answered_p50_ms: float
    answered_p99_ms: float
    decided_p50_ms: float
    decided_p99_ms: float
    loader_cpu_s: float
    """CPU seconds of the process that sent the load (bench/open_loop.py)."""
    slowest_by_second: dict[int, int]
    """Where in the window the slowest 1% of orders were placed: second → how many. A tail
    spread over the window is the system's; one crowded into a second is a stall or a warm-up."""


async def open_loop_answers(
    url: str, key: str, rate: float, seconds: float
) -> tuple[dict[str, tuple[float, float]], float]:
    """POST at ``rate`` from another process (bench/open_loop.py): for each 202, when its
    request started and when the answer arrived, and the CPU seconds the loader used."""
    children_before = _children_cpu_s()
    loader = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "bench" / "open_loop.py"),
        url,
        key,
        "--rate",
        str(rate),
        "--seconds",
        str(seconds),
        stdout=asyncio.subprocess.PIPE,
    )
    output, _ = await loader.communicate()
    answers: dict[str, tuple[float, float]] = json.loads(output)
    return answers, _children_cpu_s() - children_before


def _children_cpu_s() -> float:
    """CPU seconds of this process's children that have ended and been waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def pcts(values: list[float]) -> tuple[float, float]:
    """p50 and p99 of ``values``."""
    ordered = sorted(values) or [0.0]

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return at(0.5), at(0.99)


async def open_loop_latency(
    url: str, key: str, counter: AcceptedCounter, rate: float, seconds: float
) -> LatencyResult:
    """Place orders at ``rate`` from another process and time each one from the start of its
    POST to its ``order.accepted`` arriving here."""
    timings, loader_cpu_s = await open_loop_answers(url, key, rate, seconds)
    await wait_until(lambda: set(timings) <= counter.arrived.keys(), 30)
    seen = [
        (t0, t1, counter.arrived[key])
        for key, (t0, t1) in timings.items()
        if key in counter.arrived
    ]

    total = pcts([(t2 - t0) * 1000 for t0, _, t2 in seen])
    answered = pcts([(t1 - t0) * 1000 for t0, t1, _ in seen])
    decided = pcts([(t2 - t1) * 1000 for _, t1, t2 in seen])
    return LatencyResult(
        rate,
        int(rate * seconds),
        len(seen),
        *total,
        *answered,
        *decided,
        loader_cpu_s,
        slowest_by_second(seen, total[1] / 1000),
    )


def slowest_by_second(seen: list[tuple[float, float, float]], p99_s: float) -> dict[int, int]:
    """How many orders at or over the p99 were placed in each second of the window."""
    if not seen:
        return {}
    start = min(t0 for t0, _, _ in seen)
    counts = Counter(int(t0 - start) for t0, _, t2 in seen if t2 - t0 >= p99_s)
    return dict(sorted(counts.items()))


def machine_busy_seconds() -> float:
    """CPU seconds every core of the machine spent not idle since boot (/proc/stat)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def latency_window(latency: LatencyResult) -> float:
    """How long the open loop sent orders, in seconds."""
    return latency.sent / latency.rate


def system_pids() -> dict[str, list[int]]:
    """PostgreSQL and RabbitMQ server processes, whose CPU the system's work also costs."""

    def pids(pattern: str) -> list[int]:
        found = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout
        return [int(pid) for pid in found.split()]

    return {"postgres": pids("postgres"), "rabbitmq": pids("beam.smp")}


def start_profiler(pid: int, into: Path, seconds: float | None = None) -> subprocess.Popen[bytes]:
    """py-spy on ``pid``, raw (collapsed) stacks into ``into``; until SIGINT without ``seconds``."""
    into.parent.mkdir(parents=True, exist_ok=True)
    duration = [] if seconds is None else ["-d", str(int(seconds))]
    return subprocess.Popen(
        ["py-spy", "record", "-f", "raw", "-r", "200", *duration, "-p", str(pid), "-o", str(into)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def start_profilers(
    stack: Stack, seconds: float, into: Path | None
) -> list[subprocess.Popen[bytes]]:
    """py-spy on every service process for the measured window, raw (collapsed) stacks."""
    if into is None:
        return []
    return [
        start_profiler(stack.pid(name), into / f"{name}.txt", seconds) for name in stack.processes
    ]


@asynccontextmanager
async def fresh_stack(infra: Infra, counter: AcceptedCounter) -> AsyncIterator[tuple[Stack, str]]:
    """The system on new databases and new processes, warmed up, with a key: a phase measures
    what it does, not what earlier phases left behind (rows to vacuum, a long outbox)."""
    stack = await Stack.start(infra, services=("orders", "webhooks", "gateway"))
    try:
        if counter.connection is None:  # the exchanges exist once the first services ran
            await counter.start(infra)
        await list_instrument(infra)
        key = await stack.api_key()
        gateway_url = f"{stack.url('gateway')}/api/v1/orders"
        # Warm-up: connections, caches, prepared statements; then let it drain.
        before = len(counter.arrived)
        warmup = await asyncio.to_thread(
            run_wrk, gateway_url, {"Authorization": f"Bearer {key}"}, 2, 8
        )
        warm = warmup.requests - warmup.non_2xx
        await wait_until(lambda: len(counter.arrived) - before >= warm, 60)
        yield stack, key
    finally:
        stack.stop()


@dataclass(frozen=True)
class OpenLoopRun:
    latency: LatencyResult
    cpu_s: dict[str, float]
    """CPU seconds of each process group while the open loop ran."""
    cores_busy: float
    """How busy the machine's cores were meanwhile (the load generator and this process too)."""

    def lines(
        self, *, why: str = "", bare_answered: tuple[float, float] | None = None
    ) -> list[str]:
        latency = self.latency
        lines = [
            f"open loop at {latency.rate:,.0f}/s{why}: place → order.accepted p50 "
            f"{latency.p50_ms:.1f} ms, p99 {latency.p99_ms:.1f} ms "
            f"({latency.accepted}/{latency.sent} accepted); POST → 202 p50 "
            f"{latency.answered_p50_ms:.1f} / p99 {latency.answered_p99_ms:.1f} ms, "
            f"202 → order.accepted p50 {latency.decided_p50_ms:.1f} / p99 "
            f"{latency.decided_p99_ms:.1f} ms",
            "  the slowest 1% by second of the window (second: orders): "
            + ", ".join(f"{second}: {n}" for second, n in latency.slowest_by_second.items()),
        ]
        if bare_answered is not None:
            lines.append(
                f"  the bare endpoint at the same rate: POST → 202 p50 {bare_answered[0]:.1f} / "
                f"p99 {bare_answered[1]:.1f} ms"
            )
        # Why the tail: how busy the two cores were while the open loop ran, and what each
        # order cost at this rate.
        lines.append(
            f"  meanwhile the machine's cores were {self.cores_busy:.2f} busy; CPU ms per order: "
            + ", ".join(
                f"{name} {1000 * used / max(1, latency.accepted):.2f}"
                for name, used in self.cpu_s.items()
            )
        )
        return lines


async def measured_open_loop(
    infra: Infra, counter: AcceptedCounter, rate: float, seconds: float, profile: Path | None
) -> OpenLoopRun:
    """The open loop at ``rate`` on a fresh system, with every process's CPU meanwhile (and
    py-spy profiles of the services into ``profile``, if given)."""
    async with fresh_stack(infra, counter) as (stack, key):
        pids = {name: [stack.pid(name)] for name in ("gateway", "orders", "webhooks")}
        pids.update(system_pids())
        # The measuring side's share of the cores: this process counts the events.
        pids["bench (counting consumer)"] = [os.getpid()]
        meter = CpuMeter.of_groups(pids)
        meter.start()
        busy_before = machine_busy_seconds()
        profilers = await asyncio.to_thread(start_profilers, stack, seconds, profile)
        latency = await open_loop_latency(
            f"{stack.url('gateway')}/api/v1/orders", key, counter, rate, seconds
        )
        for profiler in profilers:
            await asyncio.to_thread(profiler.wait)
        machine_busy = machine_busy_seconds() - busy_before
        cpu = meter.stop()
    cpu["load generator"] = latency.loader_cpu_s
    return OpenLoopRun(latency, cpu, machine_busy / latency_window(latency))


async def open_loop_only(seconds: float, rate: float, profile: Path | None) -> str:
    """Only the open loop, at a fixed ``rate``, on a fresh system: the latency figure alone, for
    a rate chosen in advance (half the issue's 600/s), quicker to repeat than the whole run."""
    with provision() as infra:
        counter = AcceptedCounter()
        try:
            run = await measured_open_loop(infra, counter, rate, seconds, profile)
        finally:
            await counter.close()
            await infra.drop_databases()
            await infra.delete_redis_keys()
    return "\n".join(run.lines())


async def bench(
    seconds: float, connections: int, direct: int, profile: Path | None, *, alone_only: bool
) -> str:
    with provision() as infra:
        counter = AcceptedCounter()
        try:
            async with fresh_stack(infra, counter) as (stack, _):
                raw = await raw_publish_rate(infra, seconds / 2)
                alone = await orders_alone(infra, counter, stack, direct, profile)
            lines = [
                f"raw confirmed publishes into a quorum queue: {raw:,.0f}/s",
                f"orders service alone ({direct:,} commands straight to the broker): "
                f"{alone.accepted_per_s:,.0f} accepted/s (ratio to raw publishes "
                f"{alone.accepted_per_s / raw:.3f}); batches of {alone.mean_batch:.1f} commands "
                f"in {alone.mean_batch_ms:.1f} ms on average; CPU ms per order: "
                + ", ".join(f"{name} {ms:.2f}" for name, ms in alone.cpu_ms_per_order.items()),
                f"  meanwhile, orders /health/ready: {percentiles(alone.ready_ms)}; "
                f"GET an order from orders: {percentiles(alone.read_ms)}",
                f"  by the service's own clock (its wait for the event loop not counted), within "
                f"{1000 * SERVED_WITHIN_S:.0f} ms: "
                f"{100 * alone.ready_within:.1f}% of readiness answers, "
                f"{100 * alone.read_within:.1f}% of reads",
            ]
            if alone_only:
                return "\n".join(lines)

            baseline = baseline_endpoint(infra, {})
            try:
                await baseline.wait_ready()
                bare = await asyncio.to_thread(
                    run_wrk, f"{baseline.url}/orders", {}, seconds, connections
                )
            finally:
                baseline.stop()

            async with fresh_stack(infra, counter) as (stack, key):
                gateway_url = f"{stack.url('gateway')}/api/v1/orders"
                auth = {"Authorization": f"Bearer {key}"}
                before = len(counter.arrived)
                pids = {name: [stack.pid(name)] for name in ("gateway", "orders", "webhooks")}
                pids.update(system_pids())
                meter = CpuMeter.of_groups(pids)
                meter.start()
                profilers = await asyncio.to_thread(start_profilers, stack, seconds, profile)
                t0 = time.perf_counter()
                system = await asyncio.to_thread(run_wrk, gateway_url, auth, seconds, connections)
                t1 = time.perf_counter()
                for profiler in profilers:
                    await asyncio.to_thread(profiler.wait)
                cpu = meter.stop()
                in_window = counter.between(t0, t1)
                answered = system.requests - system.non_2xx
                drain = await wait_until(lambda: len(counter.arrived) - before >= answered, 120)
                accepted_total = len(counter.arrived) - before
                accepted_rate = in_window / (t1 - t0)

            # The floor under the open loop's first leg: the bare endpoint's POST → 202 (one
            # confirmed publish) at the same rate, on the same machine, nothing else running.
            half_rate = max(1.0, accepted_rate / 2)
            baseline = baseline_endpoint(infra, {})
            try:
                await baseline.wait_ready()
                bare_answers, _ = await open_loop_answers(
                    f"{baseline.url}/orders", "unused", half_rate, seconds
                )
            finally:
                baseline.stop()
            bare_answered = pcts([(t1 - t0) * 1000 for t0, t1 in bare_answers.values()])

            half = await measured_open_loop(infra, counter, half_rate, seconds, None)
            # The issue's own reading too: half its 600/s target, the same rate in every run
            # however fast the saturated run happened to be.
            target_half = await measured_open_loop(infra, counter, TARGET_RATE / 2, seconds, None)
        finally:
            await counter.close()
            await infra.drop_databases()
            await infra.delete_redis_keys()

    per_order = {name: 1000 * used / max(1, in_window) for name, used in cpu.items()}
    lines += [
        f"bare FastAPI + confirmed quorum publish (wrk -c{connections}): "
        f"{bare.requests_per_s:,.0f} req/s ({bare.non_2xx} non-2xx)",
        f"gateway POST /api/v1/orders (wrk -c{connections}): {system.requests_per_s:,.0f} req/s, "
        f"{system.non_2xx} non-2xx; "
        f"ratio to bare endpoint {system.requests_per_s / bare.requests_per_s:.2f}",
        f"orders accepted end to end while loaded: {accepted_rate:,.0f}/s "
        f"(ratio to raw publishes {accepted_rate / raw:.3f}); "
        # wrk counts only the answers it read before stopping; the requests in flight then
        # were answered 202 too, so more orders can be accepted than wrk reports answered.
        f"{accepted_total} accepted in all ({answered} answered 202 before wrk stopped, the "
        f"rest in flight), the last {drain:.1f}s after the load ended",
        "CPU ms per accepted order: "
        + ", ".join(f"{name} {ms:.2f}" for name, ms in per_order.items())
        + f" (total {sum(per_order.values()):.2f})",
    ]
    lines += half.lines(why=" (half the accepted rate)", bare_answered=bare_answered)
    lines += target_half.lines(why=f" (half the {TARGET_RATE:,.0f}/s target)")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument(
        "--direct", type=int, default=30_000, help="commands for the orders-alone run"
    )
    parser.add_argument(
        "--profile", type=Path, help="write py-spy profiles (raw) of every service here"
    )
    parser.add_argument(
        "--alone-only", action="store_true", help="only the baseline and the orders-alone run"
    )
    parser.add_argument(
        "--open-loop-rate",
        type=float,
        help="only the open loop, at this many orders/s (e.g. 300: half the issue's 600/s)",
    )
    args = parser.parse_args()
    if args.open_loop_rate is not None:
        report = asyncio.run(open_loop_only(args.seconds, args.open_loop_rate, args.profile))
        sys.stdout.write("\n" + report + "\n")
        return
    report = asyncio.run(
        bench(args.seconds, args.connections, args.direct, args.profile, alone_only=args.alone_only)
    )
    sys.stdout.write("\n" + report + "\n")
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / "orders_saturation.txt").write_text(report + "\n")


if __name__ == "__main__":
    main()
