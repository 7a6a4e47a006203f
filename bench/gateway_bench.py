"""`make bench` (gateway): what one POST /api/v1/orders costs the gateway, against a bare endpoint.

One run, one machine, consumers paused (no orders service: commands pile up in its queue):

- **Bare endpoint** (baseline): ``bench/baseline_app.py`` under uvicorn (uvloop, httptools), one
  confirmed publish into a quorum queue per request; no auth, no validation, no Redis.
- **Gateway**: POST /api/v1/orders (API key, validation, confirmed command into the orders
  service's quorum command queue, pending view in Redis, telemetry, metrics).
- **Gateway at REF** (with ``--against REF``): the gateway as it was at a git revision (its
  ``libs/common`` and ``services/gateway`` sources, from ``git archive``), beside this one, so a
  change is measured before and after in the same run on a machine whose load varies.

Each is driven by ``wrk -t2 -c64`` with the same body, one after the other, for ``--rounds``
rounds, in an order that reverses every round; the queues are purged before every window, so each
target starts from empty queues. The report gives each round and the medians: requests/s, the
ratio to the bare endpoint of the same round, and CPU milliseconds per request (user + system time
from /proc over the window, divided by answers); with ``--against``, the report adds the median of
each round's own difference between the two gateways (paired, so a load swing between rounds
cancels out).
``--profile DIR`` adds one more window of the bare endpoint and one of this gateway under
``py-spy record -f raw``, kept out of the medians because sampling slows the process it samples.
py-spy stops the process for each sample; on this project's machines those samples put the sites
of system calls (``uuid4``, a socket write) at several times their real share (docs/
performance.md, "What the profile had overstated"): size a piece by taking it out (``--against``)
or by timing it alone, not by its share of these samples.

    uv run python bench/gateway_bench.py [--seconds 10] [--connections 64] [--rounds 3]
        [--against REF] [--profile DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aio_pika

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from stack import CpuMeter, Stack, WrkResult, baseline_endpoint, run_wrk  # noqa: E402

from support.infra import provision  # noqa: E402
from support.services import ServiceProcess, free_port  # noqa: E402
from tradewind.common.broker import Broker, Topology  # noqa: E402
from tradewind.orders.handlers import command_queue  # noqa: E402

BASELINE_QUEUE_PURPOSE = "bench.baseline"
GATEWAY_SOURCES = ("libs/common/src", "services/gateway/src")
# What the gateway reads from disk besides its code: it migrates its database at start.
GATEWAY_FILES = ("services/gateway/alembic.ini", "services/gateway/migrations")


@dataclass(frozen=True)
class Target:
    """Something wrk drives: its URL and headers, and the process whose CPU it costs."""

    name: str
    url: str
    headers: dict[str, str]
    pid: int


@dataclass(frozen=True)
class Measurement:
    result: WrkResult
    cpu_ms_per_request: float


@dataclass
class Rounds:
    targets: list[Target]
    measured: list[dict[str, Measurement]] = field(default_factory=list)

    def ratio(self, round_: dict[str, Measurement], name: str) -> float:
        return round_[name].result.requests_per_s / round_["bare"].result.requests_per_s

    def line(self, label: str, round_: dict[str, Measurement]) -> str:
        parts = [
            f"{t.name} {round_[t.name].result.requests_per_s:,.0f} req/s "
            f"({round_[t.name].result.non_2xx} non-2xx, "
            f"{round_[t.name].cpu_ms_per_request:.3f} CPU ms/req"
            + ("" if t.name == "bare" else f", ratio {self.ratio(round_, t.name):.3f}")
            + ")"
            for t in self.targets
        ]
        return f"{label}: " + "; ".join(parts)

    def medians(self) -> str:
        parts = []
        for target in self.targets:
            name = target.name
            rate = statistics.median(r[name].result.requests_per_s for r in self.measured)
            cpu = statistics.median(r[name].cpu_ms_per_request for r in self.measured)
            ratio = (
                ""
                if name == "bare"
                else f", ratio {statistics.median(self.ratio(r, name) for r in self.measured):.3f}"
            )
            parts.append(f"{name} {rate:,.0f} req/s ({cpu:.3f} CPU ms/req{ratio})")
        return "median: " + "; ".join(parts)

    def change(self, before: str, after: str) -> str:
        """The median over rounds of each round's own difference: robust to load drifts."""
        cpu = [r[after].cpu_ms_per_request - r[before].cpu_ms_per_request for r in self.measured]
        relative = [
            r[after].cpu_ms_per_request / r[before].cpu_ms_per_request - 1 for r in self.measured
        ]
        faster = sum(1 for delta in cpu if delta < 0)
        return (
            f"{after} vs {before}, paired by round: CPU {statistics.median(cpu):+.3f} ms/req "
            f"({statistics.median(relative):+.1%}), less CPU in {faster} of {len(cpu)} rounds"
        )


def measure(target: Target, seconds: float, connections: int) -> Measurement:
    """Run wrk on ``target``; its process's CPU milliseconds per answered request."""
    meter = CpuMeter.of_groups({"process": [target.pid]})
    meter.start()
    result = run_wrk(target.url, target.headers, seconds, connections)
    used = meter.stop()["process"]
    return Measurement(result, 1000 * used / max(1, result.requests))


def pid_of(service: ServiceProcess) -> int:
    assert service.process is not None, f"{service.name} was not started"
    return service.process.pid


@contextmanager
def gateway_sources_at(ref: str) -> Iterator[Path]:
    """The gateway's and libs/common's sources as they were at ``ref``, in a temporary tree."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", ref, *GATEWAY_SOURCES, *GATEWAY_FILES],
        capture_output=True,
        check=True,
    ).stdout
    with tempfile.TemporaryDirectory(prefix="gateway-bench-") as tree:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tree, filter="data")
        yield Path(tree)


def start_gateway_from(tree: Path, env: dict[str, str]) -> ServiceProcess:
    """A gateway importing its code from ``tree`` (first on PYTHONPATH), dependencies from .venv."""
    port = free_port()
    paths = [str(tree / source) for source in GATEWAY_SOURCES]
    return ServiceProcess(
        f"bench-gateway-{port}",
        "tradewind.gateway",
        port,
        {**env, "TRADEWIND_GATEWAY_PORT": str(port), "PYTHONPATH": os.pathsep.join(paths)},
    ).start()


def profile(target: Target, seconds: float, connections: int, into: Path) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    output = into / f"{target.name}.txt"
    profiler = subprocess.Popen(
        [
            *("py-spy", "record", "-f", "raw", "-r", "200", "-d", str(int(seconds))),
            *("-p", str(target.pid), "-o", str(output)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    run_wrk(target.url, target.headers, seconds, connections)
    profiler.wait()
    return output


async def bench(
    seconds: float, connections: int, rounds: int, against: str | None, profile_into: Path | None
) -> str:
    with provision() as infra:
        # The orders service's command queue, declared as it declares it, with nobody consuming.
        broker = Broker(infra.amqp_url, Topology(infra.namespace), service="bench")
        await broker.connect()
        await broker.declare_queue(command_queue(broker.topology))
        purger = await aio_pika.connect(infra.amqp_url)
        stack = await Stack.start(infra, services=("gateway",))
        baseline = baseline_endpoint(infra, stack.env)
        with ExitStack() as trees:
            old = None
            if against is not None:
                old = start_gateway_from(
                    trees.enter_context(gateway_sources_at(against)), stack.env
                )
            try:
                await baseline.wait_ready()
                if old is not None:
                    await old.wait_ready(60)
                auth = {"Authorization": f"Bearer {await stack.api_key()}"}
                orders = "/api/v1/orders"
                targets = [Target("bare", f"{baseline.url}/orders", {}, pid_of(baseline))]
                if old is not None:
                    targets.append(
                        Target(f"gateway@{against}", old.url + orders, auth, pid_of(old))
                    )
                gateway = Target(
                    "gateway", stack.url("gateway") + orders, auth, stack.pid("gateway")
                )
                targets.append(gateway)
                # Warm-up: connections, pools, lazily built schemas.
                for target in targets:
                    await asyncio.to_thread(run_wrk, target.url, target.headers, 2, 8)
                channel = await purger.channel()
                queues = [
                    await channel.declare_queue(name, passive=True)
                    for name in (
                        command_queue(broker.topology).name,
                        f"{infra.namespace}.{BASELINE_QUEUE_PURPOSE}",
                    )
                ]
                load_before = os.getloadavg()
                report = Rounds(targets)
                for number in range(rounds):
                    # The order reverses every round, so neither a drift in the machine's load nor
                    # the broker's work after a purge always falls on the same target.
                    order = targets if number % 2 == 0 else targets[::-1]
                    measured: dict[str, Measurement] = {}
                    for target in order:
                        for queue in queues:
                            await queue.purge()
                        measured[target.name] = await asyncio.to_thread(
                            measure, target, seconds, connections
                        )
                    report.measured.append(measured)
                profiled: list[Path] = []
                if profile_into is not None:
                    # The bare endpoint too: where its CPU goes is the floor the gateway's is
                    # compared with.
                    for target in (targets[0], gateway):
                        for queue in queues:
                            await queue.purge()
                        profiled.append(
                            await asyncio.to_thread(
                                profile, target, seconds, connections, profile_into
                            )
                        )
            finally:
                if old is not None:
                    old.stop()
                baseline.stop()
                stack.stop()
                await purger.close()
                await broker.close()
                await infra.drop_databases()
                await infra.delete_redis_keys()

    lines = [
        f"wrk -t2 -c{connections} -d{int(seconds)}s POST, {rounds} rounds, consumers paused; "
        f"load average before: {' '.join(f'{x:.2f}' for x in load_before)}",
        *(report.line(f"round {n}", r) for n, r in enumerate(report.measured, 1)),
        report.medians(),
    ]
    if against is not None:
        lines.append(report.change(f"gateway@{against}", "gateway"))
    if profiled:
        lines.append(
            "py-spy profiles of the bare endpoint and the gateway (extra windows): "
            + ", ".join(str(path) for path in profiled)
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--against", help="also measure the gateway as it was at this git revision")
    parser.add_argument(
        "--profile", type=Path, help="write a py-spy profile (raw) of the gateway here"
    )
    args = parser.parse_args()
    report = asyncio.run(
        bench(args.seconds, args.connections, args.rounds, args.against, args.profile)
    )
    sys.stdout.write("\n" + report + "\n")
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / "gateway.txt").write_text(report + "\n")


if __name__ == "__main__":
    main()
