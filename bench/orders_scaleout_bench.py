"""`make bench` (orders scale-out): one orders process, then two, on the same command queue.

For each phase, fresh everything (a RabbitMQ vhost and namespace, an orders database, processes),
with in the same run the baseline of orders_saturation_bench.py: raw confirmed publishes into a
quorum queue (one aio-pika publisher, a window of 256), measured right before the phase.

A phase starts N orders processes (competing consumers of ``<ns>.orders.commands``), lists the
symbols, warms up, then sends the same number of place commands (a seeded mix of 8 symbols, 16
accounts, buys and sells) straight to the commands exchange (as the gateway does, confirmed, 500
in flight) and times them until every one's ``order.accepted`` has come back through the outbox
relay: accepted/s. Over that window: CPU seconds of the orders processes, PostgreSQL, RabbitMQ and
this process (the publisher and the event counter), per order, and the time their threads were
runnable but waiting for a core (/proc schedstat); how busy the machine's cores were (what the
measured processes do not explain is "other": other users' work); how the commands split between
the processes, and the mean batch; how many database backends were waiting for a row lock
(sampled every 10 ms: one process waiting for a book another holds).

Feeds (``--feeds``): ``live`` — published while the processes consume (the clock starts with the
first publish), as the gateway feeds them; ``backlog`` — the whole queue published first while
the processes are frozen (SIGSTOP), the clock started when they are let go (SIGCONT): what N
processes drain when every batch can be full, without the publisher on the same cores.

Then it checks the phase did everything exactly once: one order row, one ``order.accepted``
outbox row (none unpublished) and one inbox claim per command, nothing parked, nothing left in the
queue, N consumers on it.

Modes (``--modes``): ``resting`` — no symbol has a quote, so an order cannot trade on arrival and
a batch locks no book (its new rows only); ``arrival`` — every symbol has a fresh quote (bid 100,
ask 200, fresh for the whole run) that the orders (limits at 150) do not reach, so each batch
locks the book rows of the symbols it places on, as it does whenever orders may trade on arrival:
the per-symbol mutex that two processes then share (docs/orders.md, "Concurrency").

    uv run python bench/orders_scaleout_bench.py [--commands 20000] [--processes 1,2]
        [--modes resting,arrival] [--feeds live,backlog] [--rounds 1] [--profile DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import aio_pika
import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from orders_saturation_bench import (  # noqa: E402
    AcceptedCounter,
    machine_busy_seconds,
    place_commands,
    publish_commands,
    raw_publish_rate,
    start_profiler,
    system_pids,
    wait_until,
)
from stack import CpuMeter, QuotePublisher, Stack, list_instrument, scrape  # noqa: E402

from support.infra import Infra, provision  # noqa: E402
from tradewind.common.contracts.types import Side  # noqa: E402

SYMBOLS = ("AAPL", "MSFT", "GOOGL", "AMZN", "TSLA", "SPY", "NVDA", "META")
ACCOUNTS = tuple(f"bench-{n:02d}" for n in range(16))
SIDES = (Side.BUY, Side.SELL)
INBOX_CONSUMER = "orders.commands"  # tradewind.orders.handlers.commands.INBOX_CONSUMER


@dataclass(frozen=True)
class Checks:
    """What the phase left behind, against what exactly-once requires."""

    commands: int
    orders: int
    orders_of_measured_commands: int
    accepted_outbox_rows: int
    orders_with_accepted_row: int
    other_outbox_rows: int
    unpublished_outbox_rows: int
    inbox_claims: int
    parked: int
    left_in_queue: int
    consumers: int
    processes: int

    @property
    def failures(self) -> list[str]:
        expected = {
            "orders": self.commands,
            "accepted_outbox_rows": self.commands,
            "orders_with_accepted_row": self.commands,
            "other_outbox_rows": 0,
            "unpublished_outbox_rows": 0,
            "inbox_claims": self.commands,
            "parked": 0,
            "left_in_queue": 0,
            "consumers": self.processes,
        }
        return [
            f"{name} {getattr(self, name)} (expected {value})"
            for name, value in expected.items()
            if getattr(self, name) != value
        ]


@dataclass(frozen=True)
class Phase:
    mode: str
    feed: str
    processes: int
    commands: int
    raw_publishes_per_s: float
    accepted_per_s: float
    window_s: float
    publish_s: float
    cpu_ms_per_order: dict[str, float]
    cores_used: dict[str, float]
    cores_waited: dict[str, float]
    """Threads runnable but waiting for a core, in cores (seconds of waiting per second)."""
    machine_cores_busy: float
    handled_per_process: list[int]
    mean_batch: float
    mean_batch_ms: float
    lock_waiters: float
    """Backends of the orders database waiting for a row lock (another process's book), on
    average over the window (sampled every 10 ms)."""
    checks: Checks
    ok: bool

    @property
    def other_cores(self) -> float:
        """Cores busy with something else than the measured processes (other users' work, the
        kernel's, py-spy): how undisturbed the phase was."""
        measured = ("orders", "postgres", "rabbitmq", "bench")
        return self.machine_cores_busy - sum(self.cores_used[name] for name in measured)


BARE_LOOP = "s = 0\nfor i in range(10_000_000):\n    s += i\n"


class LockWaitSampler:
    """Counts, every ``interval_s``, the backends of the pool's database waiting for a lock."""

    def __init__(self, pool: asyncpg.Pool, interval_s: float = 0.01) -> None:
        self.pool = pool
        self.interval_s = interval_s
        self.samples: list[int] = []

    async def run(self) -> None:
        async with self.pool.acquire() as connection:
            while True:
                self.samples.append(
                    await connection.fetchval(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND wait_event_type = 'Lock'"
                    )
                )
                await asyncio.sleep(self.interval_s)

    @property
    def mean(self) -> float:
        return sum(self.samples) / max(len(self.samples), 1)


def run_delay_seconds(pid: int) -> float:
    """Seconds the process's threads have spent runnable but waiting for a core, so far
    (``/proc/<pid>/task/*/schedstat``, second field)."""
    total = 0
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                total += int((task / "schedstat").read_text().split()[1])
    return total / 1e9


@dataclass
class RunQueueMeter:
    """Like ``CpuMeter``, the time named groups of processes waited for a core over a window."""

    groups: dict[str, list[int]]
    started: dict[str, float] = field(default_factory=dict)

    def _now(self) -> dict[str, float]:
        return {
            name: sum(run_delay_seconds(pid) for pid in pids) for name, pids in self.groups.items()
        }

    def start(self) -> None:
        self.started = self._now()

    def stop(self) -> dict[str, float]:
        now = self._now()
        return {name: now[name] - self.started[name] for name in self.groups}


def bare_loop_seconds() -> float:
    """How fast this machine runs Python now: a bare loop of 10 million additions at module
    level, as ``python -c`` runs it (about 0.6 to 0.8 s on this machine when it is quiet)."""
    code = compile(BARE_LOOP, "<bare loop>", "exec")
    started = time.perf_counter()
    exec(code, {})
    return time.perf_counter() - started


async def listed(pool: asyncpg.Pool, symbols: int) -> bool:
    return bool(await pool.fetchval("SELECT count(*) FROM instruments") == symbols)


async def books_quoted(pool: asyncpg.Pool, symbols: int) -> bool:
    quoted = await pool.fetchval("SELECT count(*) FROM symbol_books WHERE last_sequence > 0")
    return bool(quoted == symbols)


async def until(predicate: object, what: str, timeout: float = 60) -> None:
    """Wait for an async predicate (a coroutine function of no argument)."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if await predicate():  # type: ignore[operator]
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"timed out waiting for {what}")


async def queue_state(infra: Infra, name: str) -> tuple[int, int]:
    """(ready messages, consumers) of a queue, declared passively."""
    connection = await aio_pika.connect(infra.amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(name, passive=True)
        result = queue.declaration_result
        return result.message_count or 0, result.consumer_count or 0


async def check(
    infra: Infra, pool: asyncpg.Pool, processes: int, commands: int, measured: list[str]
) -> Checks:
    """Exactly once, from the database and the broker, once the relay has caught up."""

    async def relayed() -> bool:
        return not await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")

    with contextlib.suppress(RuntimeError):  # what is left is counted below, a failure
        await until(relayed, "the outbox to be published", timeout=30)
    outbox = await pool.fetchrow(
        """SELECT count(*) FILTER (WHERE message_type = 'order.accepted') AS accepted,
                  count(DISTINCT convert_from(body, 'UTF8')::jsonb ->> 'subject')
                      FILTER (WHERE message_type = 'order.accepted') AS accepted_orders,
                  count(*) FILTER (WHERE message_type <> 'order.accepted') AS other,
                  count(*) FILTER (WHERE published_at IS NULL) AS unpublished
           FROM outbox"""
    )
    ns = infra.namespace
    left, consumers = await queue_state(infra, f"{ns}.orders.commands")
    parked, _ = await queue_state(infra, f"{ns}.orders.commands.parked")
    return Checks(
        commands=commands,
        orders=await pool.fetchval("SELECT count(*) FROM orders WHERE status = 'new'"),
        orders_of_measured_commands=await pool.fetchval(
            "SELECT count(*) FROM orders WHERE id = ANY($1::uuid[])", measured
        ),
        accepted_outbox_rows=outbox["accepted"],
        orders_with_accepted_row=outbox["accepted_orders"],
        other_outbox_rows=outbox["other"],
        unpublished_outbox_rows=outbox["unpublished"],
        inbox_claims=await pool.fetchval(
            "SELECT count(*) FROM inbox WHERE consumer = $1", INBOX_CONSUMER
        ),
        parked=parked,
        left_in_queue=left,
        consumers=consumers,
        processes=processes,
    )


async def quote_every_symbol(infra: Infra) -> None:
    """One quote per symbol that the benchmark's limits at 150 do not reach (bid 100, ask 200)."""
    for symbol in SYMBOLS:
        publisher = await QuotePublisher(infra, symbol).open()
        try:
            await publisher.publish(Decimal(100), Decimal(200))
        finally:
            await publisher.close()


async def run_phase(
    mode: str,
    feed: str,
    processes: int,
    count: int,
    warmup: int,
    raw_seconds: float,
    profile: Path | None,
    service_env: dict[str, str],
) -> Phase:
    extra_env = dict(service_env)
    if mode == "arrival":  # the one quote per symbol stays fresh for the whole phase
        extra_env["TRADEWIND_ORDERS_ARRIVAL_QUOTE_MAX_AGE_S"] = "86400"
    with provision() as infra:
        counter = AcceptedCounter()
        stack: Stack | None = None
        pool: asyncpg.Pool | None = None
        try:
            stack = await Stack.start(infra, services=("orders",), extra_env=extra_env)
            names = ["orders"] + [await stack.add_instance("orders") for _ in range(processes - 1)]
            await counter.start(infra)
            database = stack.env["TRADEWIND_ORDERS_DATABASE_URL"]
            pool = await asyncpg.create_pool(
                database.replace("postgresql+asyncpg://", "postgresql://"), min_size=1, max_size=2
            )
            for symbol in SYMBOLS:
                await list_instrument(infra, symbol)
            await until(lambda: listed(pool, len(SYMBOLS)), "the listings")
            if mode == "arrival":
                await quote_every_symbol(infra)
                await until(lambda: books_quoted(pool, len(SYMBOLS)), "the quotes")

            connection = await aio_pika.connect(infra.amqp_url)
            async with connection:
                channel = await connection.channel(publisher_confirms=True)
                exchange = await channel.get_exchange(f"{infra.namespace}.commands")
                # Warm-up: connections, prepared statements, every process taking batches.
                warm = place_commands(warmup, SYMBOLS, ACCOUNTS, SIDES)
                await publish_commands(exchange, warm)
                warm_ids = {command.data["order_id"] for command in warm}
                await wait_until(lambda: warm_ids <= counter.arrived.keys(), 120)

                raw = await raw_publish_rate(infra, raw_seconds)

                commands = place_commands(count, SYMBOLS, ACCOUNTS, SIDES)
                wanted = {command.data["order_id"] for command in commands}
                queue = {"queue": f"{infra.namespace}.orders.commands"}
                urls = [stack.url(name) for name in names]
                before = [await batch_figures(url, queue) for url in urls]
                groups = {f"orders#{n}": [stack.pid(name)] for n, name in enumerate(names, 1)}
                groups.update(system_pids())
                groups["bench"] = [os.getpid()]
                meter, waits = CpuMeter.of_groups(groups), RunQueueMeter(groups)
                pids = [stack.pid(name) for name in names]
                if feed == "backlog":  # the whole queue first, the consumers frozen meanwhile
                    for pid in pids:
                        os.kill(pid, signal.SIGSTOP)
                    try:
                        await publish_commands(exchange, commands)
                    finally:
                        for pid in pids:
                            os.kill(pid, signal.SIGCONT)
                profilers = [
                    await asyncio.to_thread(
                        start_profiler,
                        stack.pid(name),
                        profile / f"{mode}-{feed}-{processes}-{name.replace('#', '-')}.txt",
                    )
                    for name in names
                    if profile is not None
                ]
                busy_before = machine_busy_seconds()
                meter.start()
                waits.start()
                sampler = LockWaitSampler(pool)
                sampling = asyncio.create_task(sampler.run())
                started = time.perf_counter()
                if feed == "live":
                    await publish_commands(exchange, commands)
                published = time.perf_counter()
                await wait_until(lambda: wanted <= counter.arrived.keys(), 300)
                cpu = meter.stop()
                waited = waits.stop()
                sampling.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sampling
                lock_waiters = sampler.mean
                ended = time.perf_counter()
                busy = machine_busy_seconds() - busy_before
                for profiler in profilers:
                    profiler.send_signal(signal.SIGINT)
                    await asyncio.to_thread(profiler.wait)
            arrived = [counter.arrived[order_id] for order_id in wanted & counter.arrived.keys()]
            last = max(arrived) if arrived else ended
            after = [await batch_figures(url, queue) for url in urls]
            checks = await check(
                infra, pool, processes, warmup + count, [str(order) for order in wanted]
            )
        finally:
            if pool is not None:
                await pool.close()
            if stack is not None:
                stack.stop()
            await counter.close()
            await infra.drop_databases()
            await infra.delete_redis_keys()

    window = ended - started
    instances = [f"orders#{n}" for n in range(1, processes + 1)]
    per_group = {"orders": sum(cpu[name] for name in instances), **cpu}
    waited = {"orders": sum(waited[name] for name in instances), **waited}
    handled = [int(a[1] - b[1]) for a, b in zip(after, before, strict=True)]
    batches = sum(a[0] - b[0] for a, b in zip(after, before, strict=True))
    handler_s = sum(a[2] - b[2] for a, b in zip(after, before, strict=True))
    ok = (
        not checks.failures
        and len(arrived) == count
        and checks.orders_of_measured_commands == count
    )
    return Phase(
        mode=mode,
        feed=feed,
        processes=processes,
        commands=count,
        raw_publishes_per_s=raw,
        accepted_per_s=len(arrived) / (last - started),
        window_s=window,
        publish_s=published - started,
        cpu_ms_per_order={name: 1000 * used / count for name, used in per_group.items()},
        cores_used={name: used / window for name, used in per_group.items()},
        cores_waited={name: wait / window for name, wait in waited.items()},
        machine_cores_busy=busy / window,
        handled_per_process=handled,
        mean_batch=sum(handled) / max(batches, 1),
        mean_batch_ms=1000 * handler_s / max(batches, 1),
        lock_waiters=lock_waiters,
        checks=checks,
        ok=ok,
    )


async def batch_figures(url: str, labels: dict[str, str]) -> tuple[float, float, float]:
    """(batches, commands, handler seconds) the process's /metrics counted on the queue so far."""
    return (
        await scrape(url, "tradewind_message_batch_size_count", **labels),
        await scrape(url, "tradewind_message_batch_size_sum", **labels),
        await scrape(url, "tradewind_message_handler_seconds_sum", **labels),
    )


def report(phases: list[Phase]) -> str:
    """Two tables, one row per phase each: the rate and what was checked, then the cost.
    "vs 1 process" divides by the last 1-process phase of the same mode and feed."""
    rates = [
        "| mode | feed | processes | raw publishes/s | accepted/s | ratio to raw | vs 1 process "
        "| commands per process | mean batch (ms) | waiting for a lock | exactly once |",
        "|---|---|---:|---:|---:|---:|---:|---|---|---:|---|",
    ]
    costs = [
        "| mode | feed | processes | CPU ms per order: orders (each process) | PostgreSQL "
        "| RabbitMQ | bench | total | cores busy: orders, PostgreSQL, RabbitMQ, bench, other "
        "(machine) | cores waiting for a core: orders, PostgreSQL, RabbitMQ, bench |",
        "|---|---|---:|---|---:|---:|---:|---:|---|---|",
    ]
    single: dict[tuple[str, str], float] = {}
    for phase in phases:
        kind = (phase.mode, phase.feed)
        if phase.processes == 1:
            single[kind] = phase.accepted_per_s
        relative = f"{phase.accepted_per_s / single[kind]:.2f}" if kind in single else "—"
        verdict = "yes" if phase.ok else "NO: " + "; ".join(phase.checks.failures or ["missing"])
        rates.append(
            f"| {phase.mode} | {phase.feed} | {phase.processes} "
            f"| {phase.raw_publishes_per_s:,.0f} | {phase.accepted_per_s:,.0f} "
            f"| {phase.accepted_per_s / phase.raw_publishes_per_s:.3f} | {relative} "
            f"| {' / '.join(str(n) for n in phase.handled_per_process)} "
            f"| {phase.mean_batch:.1f} ({phase.mean_batch_ms:.1f}) | {phase.lock_waiters:.2f} "
            f"| {verdict} |"
        )
        cpu, busy, waited = phase.cpu_ms_per_order, phase.cores_used, phase.cores_waited
        groups = ("orders", "postgres", "rabbitmq", "bench")
        orders = f"{cpu['orders']:.2f}"
        if phase.processes > 1:
            each = [cpu[f"orders#{n}"] for n in range(1, phase.processes + 1)]
            orders += " (" + ", ".join(f"{ms:.2f}" for ms in each) + ")"
        costs.append(
            f"| {phase.mode} | {phase.feed} | {phase.processes} | {orders} "
            + "".join(f"| {cpu[name]:.2f} " for name in groups[1:])
            + f"| {sum(cpu[name] for name in groups):.2f} "
            + "| "
            + ", ".join(f"{busy[name]:.2f}" for name in groups)
            + f", {phase.other_cores:.2f} ({phase.machine_cores_busy:.2f} of {os.cpu_count()}) "
            + "| "
            + ", ".join(f"{waited[name]:.2f}" for name in groups)
            + " |"
        )
    return "\n".join(rates) + "\n\n" + "\n".join(costs)


def git_commit() -> str:
    found = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    return found.stdout.strip() or "unknown"


async def bench(
    processes: list[int],
    modes: list[str],
    feeds: list[str],
    rounds: int,
    count: int,
    warmup: int,
    raw_seconds: float,
    profile: Path | None,
    service_env: dict[str, str],
) -> list[Phase]:
    phases = []
    for _ in range(rounds):
        for mode in modes:
            for feed in feeds:
                for n in processes:
                    phase = await run_phase(
                        mode, feed, n, count, warmup, raw_seconds, profile, service_env
                    )
                    sys.stdout.write(report([phase]).splitlines()[2] + "\n")
                    sys.stdout.flush()
                    phases.append(phase)
    return phases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--commands", type=int, default=20_000, help="place commands per phase")
    parser.add_argument("--warmup", type=int, default=1_000, help="commands before measuring")
    parser.add_argument("--processes", default="1,2", help="orders processes, one phase each")
    parser.add_argument("--modes", default="resting,arrival", help="resting, arrival or both")
    parser.add_argument(
        "--feeds", default="live,backlog", help="live (published meanwhile), backlog, or both"
    )
    parser.add_argument("--rounds", type=int, default=1, help="repeat every phase this often")
    parser.add_argument("--raw-seconds", type=float, default=5.0, help="raw publish baseline")
    parser.add_argument(
        "--batch-wait-s",
        type=float,
        help="TRADEWIND_ORDERS_COMMAND_BATCH_WAIT_S of the orders processes (default: theirs, 0)",
    )
    parser.add_argument("--profile", type=Path, help="py-spy (raw) every orders process here")
    args = parser.parse_args()
    processes = [int(n) for n in args.processes.split(",")]
    modes = args.modes.split(",")
    if not set(modes) <= {"resting", "arrival"}:
        parser.error("--modes takes resting, arrival or both")
    feeds = args.feeds.split(",")
    if not set(feeds) <= {"live", "backlog"}:
        parser.error("--feeds takes live, backlog or both")
    service_env = {}
    if args.batch_wait_s is not None:
        service_env["TRADEWIND_ORDERS_COMMAND_BATCH_WAIT_S"] = str(args.batch_wait_s)
    load_before = os.getloadavg()
    loop_before = bare_loop_seconds()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    phases = asyncio.run(
        bench(
            processes,
            modes,
            feeds,
            args.rounds,
            args.commands,
            args.warmup,
            args.raw_seconds,
            args.profile,
            service_env,
        )
    )
    loop_after = bare_loop_seconds()
    machine = {
        "started_at": started_at,
        "commit": git_commit(),
        "cores": os.cpu_count(),
        "load_average_before": load_before,
        "bare_loop_10m_additions_s_before": loop_before,
        "bare_loop_10m_additions_s_after": loop_after,
        "service_env": service_env,
    }
    text = (
        f"orders scale-out, {args.commands:,} place commands per phase over {len(SYMBOLS)} "
        f"symbols and {len(ACCOUNTS)} accounts; commit {machine['commit']}, {started_at}; "
        f"a bare loop of 10M additions took {loop_before:.2f} s before, {loop_after:.2f} s "
        "after; load average before "
        + " / ".join(f"{load:.2f}" for load in load_before)
        + "".join(f"; {name}={value}" for name, value in service_env.items())
        + "\n\n"
        + report(phases)
    )
    sys.stdout.write("\n" + text + "\n")
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / "orders_scaleout.txt").write_text(text + "\n")
    (results / "orders_scaleout.json").write_text(
        json.dumps(
            {
                "machine": machine,
                "args": {k: str(v) for k, v in vars(args).items()},
                "phases": [
                    asdict(phase)
                    | {"other_cores": phase.other_cores, "failures": phase.checks.failures}
                    for phase in phases
                ],
            },
            indent=2,
        )
        + "\n"
    )
    if not all(phase.ok for phase in phases):
        sys.exit("a phase did not do every command exactly once")


if __name__ == "__main__":
    main()
