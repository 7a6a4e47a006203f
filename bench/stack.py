"""The services a benchmark runs: real processes in this run's own namespace, vhost, databases.

Also what several benchmarks need around them: a demo API key, an instrument listing, CPU time per
process (read from /proc, so a figure is "CPU milliseconds per order", not a guess), and quotes
published straight to the events exchange.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import aio_pika
import aiohttp
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from loadgen import ORDER  # noqa: E402

from support.infra import Infra  # noqa: E402
from support.services import ServiceProcess, free_port  # noqa: E402
from tradewind.common.contracts import Instrument, InstrumentListed, Quote  # noqa: E402
from tradewind.common.contracts.market import quote_routing_key  # noqa: E402
from tradewind.common.envelope import new_event  # noqa: E402
from tradewind.common.migrations import upgrade_database  # noqa: E402
from tradewind.gateway.domain.auth_model import DEFAULT_SCOPES  # noqa: E402
from tradewind.gateway.handlers.api_keys import open_key_store  # noqa: E402
from tradewind.orders.app import SERVICE_DIR as ORDERS_DIR  # noqa: E402

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# Rate-limit budgets no benchmark reaches: it measures what counting costs, not refusals.
UNLIMITED_BUDGETS = {
    f"TRADEWIND_GATEWAY_RATE_LIMIT_{budget}": "1000000000"
    for budget in ("ORDERS", "READS", "WEBHOOKS", "WEBHOOK_TESTS", "KEYS")
}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def _cpu_or_zero(pid: int) -> float:
    try:
        return cpu_seconds(pid)
    except (FileNotFoundError, ProcessLookupError):
        return 0.0


@dataclass
class CpuMeter:
    """CPU seconds used by named groups of processes over a measured window."""

    groups: dict[str, list[int]]
    started: dict[str, float] = field(default_factory=dict)

    @classmethod
    def of_groups(cls, groups: dict[str, list[int]]) -> CpuMeter:
        return cls(groups)

    def _now(self) -> dict[str, float]:
        return {name: sum(_cpu_or_zero(pid) for pid in pids) for name, pids in self.groups.items()}

    def start(self) -> None:
        self.started = self._now()

    def stop(self) -> dict[str, float]:
        now = self._now()
        return {name: now[name] - self.started[name] for name in self.groups}


@dataclass
class Stack:
    infra: Infra
    env: dict[str, str]
    processes: dict[str, ServiceProcess] = field(default_factory=dict)

    @classmethod
    async def start(
        cls,
        infra: Infra,
        services: Iterable[str] = ("orders", "gateway"),
        extra_env: dict[str, str] | None = None,
    ) -> Stack:
        wanted = list(services)
        env = {
            "TRADEWIND_NAMESPACE": infra.namespace,
            "TRADEWIND_AMQP_URL": infra.amqp_url,
            "TRADEWIND_REDIS_URL": infra.redis_url,
            "TRADEWIND_LOG_LEVEL": "WARNING",
            "OTEL_SDK_DISABLED": "false",
            # Benchmarks place far more than an account's default cash would buy.
            "TRADEWIND_ORDERS_INITIAL_CASH": "1000000000000",
            **UNLIMITED_BUDGETS,
        }
        ports = {name: free_port() for name in ("orders", "gateway", "webhooks")}
        env["TRADEWIND_ORDERS_PORT"] = str(ports["orders"])
        env["TRADEWIND_GATEWAY_PORT"] = str(ports["gateway"])
        env["TRADEWIND_WEBHOOKS_PORT"] = str(ports["webhooks"])
        env["TRADEWIND_GATEWAY_ORDERS_URL"] = f"http://127.0.0.1:{ports['orders']}"
        env["TRADEWIND_GATEWAY_WEBHOOKS_URL"] = f"http://127.0.0.1:{ports['webhooks']}"
        orders_db = await infra.create_database("orders")
        await asyncio.to_thread(upgrade_database, ORDERS_DIR, orders_db)
        env["TRADEWIND_ORDERS_DATABASE_URL"] = orders_db
        if "gateway" in wanted:  # the gateway migrates its own database at start
            env["TRADEWIND_GATEWAY_DATABASE_URL"] = await infra.create_database("gateway")
        if "webhooks" in wanted:
            env["TRADEWIND_WEBHOOKS_DATABASE_URL"] = await infra.create_database("webhooks")
            env["TRADEWIND_WEBHOOKS_MIGRATE_ON_START"] = "true"
        env.update(extra_env or {})
        stack = cls(infra, env)
        # Owners of queues first, the gateway last (as `make run` starts them).
        for name in ("orders", "webhooks", "gateway"):
            if name in wanted:
                module = f"tradewind.{name}"
                process = ServiceProcess(f"bench-{name}", module, ports[name], env).start()
                stack.processes[name] = process
                await process.wait_ready(60)
        return stack

    async def add_instance(self, service: str) -> str:
        """One more process of ``service``, started like the first (same database, queues and
        namespace: a competing consumer) on a port of its own, and ready; its name in
        ``processes`` is ``<service>#<n>``, n counting from 2."""
        count = sum(1 for name in self.processes if name.partition("#")[0] == service)
        name = f"{service}#{count + 1}"
        port = free_port()
        env = {**self.env, f"TRADEWIND_{service.upper().replace('-', '_')}_PORT": str(port)}
        module = f"tradewind.{service.replace('-', '_')}"
        process = ServiceProcess(f"bench-{service}-{count + 1}", module, port, env).start()
        self.processes[name] = process
        await process.wait_ready(60)
        return name

    def url(self, name: str) -> str:
        return self.processes[name].url

    def pid(self, name: str) -> int:
        process = self.processes[name].process
        assert process is not None
        return process.pid

    def stop(self) -> None:
        for process in reversed(list(self.processes.values())):
            process.stop()

    async def api_key(self, account: str = "bench") -> str:
        async with open_key_store(
            self.env["TRADEWIND_GATEWAY_DATABASE_URL"], self.infra.redis_url, self.infra.namespace
        ) as store:
            return (await store.create(account, DEFAULT_SCOPES)).secret


async def list_instrument(infra: Infra, symbol: str = "AAPL") -> None:
    """Orders trades only symbols market-data announced; announce ours directly."""
    listed = InstrumentListed(
        instrument=Instrument(
            symbol=symbol,
            name=f"{symbol} (benchmark)",
            tick_size=Decimal("0.01"),
            lot_size=Decimal("1"),
        )
    )
    event = new_event(source="/bench", data=listed, event_type=listed.TYPE, subject=symbol)
    connection = await aio_pika.connect(infra.amqp_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(f"{infra.namespace}.events")
        await exchange.publish(
            aio_pika.Message(event.to_json(), message_id=event.id, type=event.type),
            routing_key=event.type,
        )


class QuotePublisher:
    """Publishes quotes of one symbol straight to the events exchange, as market-data does."""

    def __init__(self, infra: Infra, symbol: str = "AAPL") -> None:
        self.infra = infra
        self.symbol = symbol
        self.sequence = 0
        self._connection: aio_pika.abc.AbstractConnection | None = None
        self._exchange: aio_pika.abc.AbstractExchange | None = None

    async def open(self) -> QuotePublisher:
        self._connection = await aio_pika.connect(self.infra.amqp_url)
        channel = await self._connection.channel(publisher_confirms=True)
        self._exchange = await channel.get_exchange(f"{self.infra.namespace}.events")
        return self

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()

    async def publish(
        self, bid: Decimal, ask: Decimal, size: Decimal = Decimal(1_000_000)
    ) -> Quote:
        assert self._exchange is not None
        self.sequence += 1
        quote = Quote(
            symbol=self.symbol,
            bid_price=bid,
            bid_size=size,
            ask_price=ask,
            ask_size=size,
            timestamp=datetime.now(UTC),
            sequence=self.sequence,
        )
        event = new_event(
            source="/bench/market-data", data=quote, event_type=Quote.TYPE, subject=self.symbol
        )
        await self._exchange.publish(
            aio_pika.Message(event.to_json(), message_id=event.id, type=event.type),
            routing_key=quote_routing_key(self.symbol),
        )
        return quote


async def scrape(base_url: str, name: str, **labels: str) -> float:
    """The value of one sample on a service's /metrics (0 if it is not there)."""
    async with aiohttp.ClientSession() as session, session.get(f"{base_url}/metrics") as response:
        text = await response.text()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


def baseline_endpoint(infra: Infra, env: dict[str, str]) -> ServiceProcess:
    """The bare FastAPI endpoint (bench/baseline_app.py) under uvicorn with uvloop and httptools,
    publishing into a quorum queue on this run's commands exchange; started, not yet ready."""
    port = free_port()
    return ServiceProcess(
        "bench-baseline",
        "uvicorn",
        port,
        {
            **env,
            "BASELINE_AMQP_URL": infra.amqp_url,
            "BASELINE_EXCHANGE": f"{infra.namespace}.commands",
            "BASELINE_QUEUE": f"{infra.namespace}.bench.baseline",
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
class WrkResult:
    requests_per_s: float
    non_2xx: int
    requests: int
    duration_s: float


# A place order as a client sends it: a resting limit order, so nothing trades.


def run_wrk(
    url: str,
    headers: dict[str, str],
    seconds: float,
    connections: int,
    body: dict[str, str] | None = None,
) -> WrkResult:
    """POST ``body`` (``ORDER``) to ``url`` in a closed loop: wrk -t2, each connection waiting
    for its answer before it sends again."""
    lines = ['wrk.method = "POST"', f"wrk.body = {json.dumps(json.dumps(body or ORDER))}"]
    lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()]
    lines.append('wrk.headers["Content-Type"] = "application/json"')
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write("\n".join(lines) + "\n")
    output = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{int(seconds)}s", "-s", script.name, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    Path(script.name).unlink()
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in ([\d.]+)(m?s)", output)
    if rate is None or total is None:
        raise RuntimeError(f"wrk printed no figures:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    duration = float(total.group(2)) / (1000 if total.group(3) == "ms" else 1)
    return WrkResult(
        float(rate.group(1)), int(non_2xx.group(1)) if non_2xx else 0, int(total.group(1)), duration
    )
