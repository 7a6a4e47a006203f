"""`make bench` (gateway): what one POST /api/v1/orders costs the gateway, against a bare endpoint.

One run, one machine, consumers paused (no orders service: commands pile up in its queue):

- **Bare endpoint** (baseline): ``bench/baseline_app.py`` under uvicorn (uvloop, httptools), one
  confirmed publish into a quorum queue per request; no auth, no validation, no Redis.
- **Gateway**: POST /api/v1/orders (API key, validation, confirmed command into the orders
  service's quorum command queue, pending view in Redis, telemetry, metrics).

Both are driven by ``wrk -t2 -c64`` with the same body, one after the other, for ``--rounds``
rounds; each round purges both queues first so every round starts from empty queues. The report
gives each round and the medians: requests/s of both, their ratio, and the gateway's CPU
milliseconds per request (user + system time from /proc over the window, divided by answers).
``--profile DIR`` adds one more gateway window under ``py-spy record -f raw``, kept out of the
medians because sampling slows the process it samples.

    uv run python bench/gateway_bench.py [--seconds 10] [--connections 64] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import aio_pika

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from orders_saturation_bench import WrkResult, run_wrk  # noqa: E402
from stack import CpuMeter, Stack  # noqa: E402

from support.infra import Infra, provision  # noqa: E402
from support.services import ServiceProcess, free_port  # noqa: E402
from tradewind.common.broker import Broker, Topology  # noqa: E402
from tradewind.orders.app import command_queue  # noqa: E402

BASELINE_QUEUE_PURPOSE = "bench.baseline"


@dataclass(frozen=True)
class Round:
    bare: WrkResult
    bare_cpu_ms: float
    gateway: WrkResult
    gateway_cpu_ms: float

    @property
    def ratio(self) -> float:
        return self.gateway.requests_per_s / self.bare.requests_per_s

    def line(self, label: str) -> str:
        return (
            f"{label}: gateway {self.gateway.requests_per_s:,.0f} req/s "
            f"({self.gateway.non_2xx} non-2xx), bare {self.bare.requests_per_s:,.0f} req/s "
            f"({self.bare.non_2xx} non-2xx), ratio {self.ratio:.3f}; CPU ms/request: "
            f"gateway {self.gateway_cpu_ms:.3f}, bare {self.bare_cpu_ms:.3f}"
        )


def start_baseline(infra: Infra, env: dict[str, str]) -> ServiceProcess:
    """The bare endpoint, started as orders_saturation_bench.py starts it."""
    port = free_port()
    return ServiceProcess(
        "bench-baseline",
        "uvicorn",
        port,
        {
            **env,
            "BASELINE_AMQP_URL": infra.amqp_url,
            "BASELINE_EXCHANGE": f"{infra.namespace}.commands",
            "BASELINE_QUEUE": f"{infra.namespace}.{BASELINE_QUEUE_PURPOSE}",
        },
        args=[
            "baseline_app:app",
            "--app-dir",
            str(ROOT / "bench"),
            "--port",
            str(port),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--log-level",
            "warning",
            "--no-access-log",
        ],
    ).start()


@dataclass(frozen=True)
class WrkArgs:
    url: str
    headers: dict[str, str]
    seconds: float
    connections: int


def pid_of(service: ServiceProcess) -> int:
    assert service.process is not None, f"{service.name} was not started"
    return service.process.pid


def cpu_ms_per_request(pid: int, measure: WrkArgs) -> tuple[WrkResult, float]:
    """Run wrk and return its result and the process's CPU milliseconds per answered request."""
    meter = CpuMeter.of_groups({"process": [pid]})
    meter.start()
    result = run_wrk(measure.url, measure.headers, measure.seconds, measure.connections)
    used = meter.stop()["process"]
    return result, 1000 * used / max(1, result.requests)


def profile_gateway(pid: int, measure: WrkArgs, into: Path) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    output = into / "gateway.txt"
    profiler = subprocess.Popen(
        [
            "py-spy",
            "record",
            "-f",
            "raw",
            "-r",
            "200",
            "-d",
            str(int(measure.seconds)),
            "-p",
            str(pid),
            "-o",
            str(output),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    run_wrk(measure.url, measure.headers, measure.seconds, measure.connections)
    profiler.wait()
    return output


async def bench(seconds: float, connections: int, rounds: int, profile: Path | None) -> str:
    with provision() as infra:
        # The orders service's command queue, declared as it declares it, with nobody consuming.
        broker = Broker(infra.amqp_url, Topology(infra.namespace), service="bench")
        await broker.connect()
        await broker.declare_queue(command_queue(broker.topology))
        purger = await aio_pika.connect(infra.amqp_url)
        stack = await Stack.start(infra, services=("gateway",))
        baseline = start_baseline(infra, stack.env)
        try:
            await baseline.wait_ready()
            key = await stack.api_key()
            gateway = WrkArgs(
                f"{stack.url('gateway')}/api/v1/orders",
                {"Authorization": f"Bearer {key}"},
                seconds,
                connections,
            )
            bare = WrkArgs(f"{baseline.url}/orders", {}, seconds, connections)
            # Warm-up: connections, pools, lazily built schemas.
            for warm in (gateway, bare):
                await asyncio.to_thread(run_wrk, warm.url, warm.headers, 2, 8)
            channel = await purger.channel()
            queues = [
                await channel.declare_queue(name, passive=True)
                for name in (
                    command_queue(broker.topology).name,
                    f"{infra.namespace}.{BASELINE_QUEUE_PURPOSE}",
                )
            ]
            load_before = os.getloadavg()
            results: list[Round] = []
            for _ in range(rounds):
                for queue in queues:
                    await queue.purge()
                bare_result, bare_cpu = await asyncio.to_thread(
                    cpu_ms_per_request, pid_of(baseline), bare
                )
                gateway_result, gateway_cpu = await asyncio.to_thread(
                    cpu_ms_per_request, stack.pid("gateway"), gateway
                )
                results.append(Round(bare_result, bare_cpu, gateway_result, gateway_cpu))
            profiled = None
            if profile is not None:
                await queues[0].purge()
                profiled = await asyncio.to_thread(
                    profile_gateway, stack.pid("gateway"), gateway, profile
                )
        finally:
            baseline.stop()
            stack.stop()
            await purger.close()
            await broker.close()
            await infra.drop_databases()
            await infra.delete_redis_keys()

    lines = [
        f"wrk -t2 -c{connections} -d{int(seconds)}s POST, {rounds} rounds, consumers paused; "
        f"load average before: {' '.join(f'{x:.2f}' for x in load_before)}",
        *(result.line(f"round {n}") for n, result in enumerate(results, 1)),
        f"median: gateway {statistics.median(r.gateway.requests_per_s for r in results):,.0f} "
        f"req/s, bare {statistics.median(r.bare.requests_per_s for r in results):,.0f} req/s, "
        f"ratio {statistics.median(r.ratio for r in results):.3f}; CPU ms/request: gateway "
        f"{statistics.median(r.gateway_cpu_ms for r in results):.3f}, bare "
        f"{statistics.median(r.bare_cpu_ms for r in results):.3f}",
    ]
    if profiled is not None:
        lines.append(f"py-spy profile of the gateway (extra window): {profiled}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--profile", type=Path, help="write a py-spy profile (raw) of the gateway here"
    )
    args = parser.parse_args()
    report = asyncio.run(bench(args.seconds, args.connections, args.rounds, args.profile))
    sys.stdout.write("\n" + report + "\n")
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / "gateway.txt").write_text(report + "\n")


if __name__ == "__main__":
    main()
