"""The whole system as processes on one run's infrastructure: databases, environment, start order.

The end-to-end tests' session system and the chaos drills both start their services here, each
in a namespace and databases of its own, so what one does (a kill -9, a poison message) never
reaches the other.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from support.infra import Infra
from support.internal import SERVICE_CREDENTIALS
from support.polling import eventually
from support.services import ServiceProcess, free_port
from tradewind.common.migrations import upgrade_database
from tradewind.market_data.app import SERVICE_DIR as MARKET_DATA_DIR
from tradewind.orders.app import SERVICE_DIR as ORDERS_DIR
from tradewind.webhooks.bootstrap import SERVICE_DIR as WEBHOOKS_DIR

TEST_INITIAL_CASH = "1000000000000"
"""Every account's starting cash in test systems: more than any test's orders ever hold, so the
buying power check (docs/orders.md, "The account ledger") refuses nothing it did not refuse
before it existed. Tests of the check give their accounts little cash of their own."""

# market-data's default instruments, which orders must know before it accepts orders.
DEFAULT_SYMBOLS = ("AAPL", "MSFT", "GOOGL", "AMZN", "TSLA", "SPY")
TOKEN_SIGNING_KEY = "e2e-token-signing-key-0123456789abcdef0123"
RATE_LIMIT_BUDGETS = ("ORDERS", "READS", "WEBHOOKS", "WEBHOOK_TESTS", "KEYS")


@dataclass(frozen=True)
class SystemDatabases:
    """SQLAlchemy URLs (asyncpg driver) of one system's four databases."""

    orders: str
    market_data: str
    webhooks: str
    gateway: str


@dataclass(frozen=True)
class SystemPorts:
    orders: int
    market_data: int
    webhooks: int
    gateway: int

    @classmethod
    def free(cls) -> SystemPorts:
        return cls(free_port(), free_port(), free_port(), free_port())


def plain_dsn(database_url: str) -> str:
    """The asyncpg DSN of a SQLAlchemy URL."""
    return database_url.replace("postgresql+asyncpg", "postgresql")


async def create_system_databases(infra: Infra, prefix: str = "") -> SystemDatabases:
    """Create (and migrate, except the gateway's) the databases; ``prefix`` keeps two systems of
    one run apart."""
    # One after another: Alembic's migration context is process-global, not thread-safe.
    orders = await _migrated(infra, f"{prefix}orders", ORDERS_DIR)
    market_data = await _migrated(infra, f"{prefix}market_data", MARKET_DATA_DIR)
    webhooks = await _migrated(infra, f"{prefix}webhooks", WEBHOOKS_DIR)
    # Not migrated here: gateways migrate their database at start (under an advisory lock).
    gateway = await infra.create_database(f"{prefix}gateway")
    return SystemDatabases(orders, market_data, webhooks, gateway)


async def _migrated(infra: Infra, service: str, service_dir: Path) -> str:
    url = await infra.create_database(service)
    await asyncio.to_thread(upgrade_database, service_dir, url)
    return url


def system_env(
    infra: Infra,
    *,
    namespace: str,
    databases: SystemDatabases,
    ports: SystemPorts,
    retry_delays_ms: Sequence[int],
    max_delivery_attempts: int,
    overrides: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment every process of the system shares (each reads its own prefix)."""
    return {
        "TRADEWIND_NAMESPACE": namespace,
        "TRADEWIND_AMQP_URL": infra.amqp_url,
        "TRADEWIND_REDIS_URL": infra.redis_url,
        **SERVICE_CREDENTIALS,
        "TRADEWIND_RETRY_DELAYS_MS": json.dumps(list(retry_delays_ms)),
        "TRADEWIND_MAX_DELIVERY_ATTEMPTS": str(max_delivery_attempts),
        "TRADEWIND_ORDERS_DATABASE_URL": databases.orders,
        "TRADEWIND_ORDERS_PORT": str(ports.orders),
        "TRADEWIND_ORDERS_INITIAL_CASH": TEST_INITIAL_CASH,
        "TRADEWIND_MARKET_DATA_DATABASE_URL": databases.market_data,
        "TRADEWIND_MARKET_DATA_PORT": str(ports.market_data),
        # Tests drive prices themselves through the ingest endpoint.
        "TRADEWIND_MARKET_DATA_SIMULATOR_ENABLED": "false",
        "TRADEWIND_WEBHOOKS_DATABASE_URL": databases.webhooks,
        "TRADEWIND_WEBHOOKS_PORT": str(ports.webhooks),
        "TRADEWIND_WEBHOOKS_MIGRATE_ON_START": "false",
        "TRADEWIND_WEBHOOKS_ALLOW_SUBNETS": "127.0.0.0/8",
        "TRADEWIND_WEBHOOKS_HTTPS_ONLY": "false",
        "TRADEWIND_WEBHOOKS_RETRY_SCHEDULE": "200ms,400ms,800ms",
        "TRADEWIND_GATEWAY_PORT": str(ports.gateway),
        "TRADEWIND_GATEWAY_DATABASE_URL": databases.gateway,
        "TRADEWIND_GATEWAY_TOKEN_SIGNING_KEY": TOKEN_SIGNING_KEY,
        "TRADEWIND_GATEWAY_ORDERS_URL": f"http://127.0.0.1:{ports.orders}",
        "TRADEWIND_GATEWAY_MARKET_DATA_URL": f"http://127.0.0.1:{ports.market_data}",
        "TRADEWIND_GATEWAY_WEBHOOKS_URL": f"http://127.0.0.1:{ports.webhooks}",
        # A system's few keys serve every caller: budgets no caller reaches (rate limits have
        # their own tests, on gateways of their own).
        **{f"TRADEWIND_GATEWAY_RATE_LIMIT_{budget}": "1000000" for budget in RATE_LIMIT_BUDGETS},
        **(overrides or {}),
    }


@dataclass
class SystemProcesses:
    orders: ServiceProcess
    market_data: ServiceProcess
    webhooks: ServiceProcess
    gateway: ServiceProcess

    def __iter__(self) -> Iterator[ServiceProcess]:
        """The gateway first: the reverse of the start order, as a stop should go."""
        return iter((self.gateway, self.market_data, self.webhooks, self.orders))

    def stop(self) -> None:
        for process in self:
            process.stop()


async def start_system(
    env: Mapping[str, str],
    ports: SystemPorts,
    *,
    name_prefix: str = "",
    symbols: Sequence[str] = DEFAULT_SYMBOLS,
    orders_overrides: Mapping[str, str] | None = None,
) -> SystemProcesses:
    """Start the four services in the order their queues and data need; ready when it returns.

    ``orders_overrides`` change the orders process's environment only (its own way to the
    broker, say). What was started is stopped again if a later step fails.
    """
    orders_env = {**env, **(orders_overrides or {})}
    orders = ServiceProcess(f"{name_prefix}orders", "tradewind.orders", ports.orders, orders_env)
    webhooks = ServiceProcess(f"{name_prefix}webhooks", "tradewind.webhooks", ports.webhooks, env)
    market_data = ServiceProcess(
        f"{name_prefix}market-data", "tradewind.market_data", ports.market_data, env
    )
    gateway = ServiceProcess(f"{name_prefix}gateway", "tradewind.gateway", ports.gateway, env)
    processes = SystemProcesses(orders, market_data, webhooks, gateway)
    try:
        orders.start()
        webhooks.start()
        await asyncio.gather(orders.wait_ready(), webhooks.wait_ready())
        # Orders trades only what market-data lists: start it once orders' queues exist.
        await market_data.start().wait_ready()
        await wait_for_instruments(env["TRADEWIND_ORDERS_DATABASE_URL"], symbols)
        await gateway.start().wait_ready()
    except BaseException:
        processes.stop()
        raise
    return processes


async def wait_for_instruments(
    orders_database_url: str, symbols: Sequence[str] = DEFAULT_SYMBOLS, timeout: float = 30
) -> None:
    """Until orders has recorded the listing of every one of ``symbols``."""
    connection = await asyncpg.connect(plain_dsn(orders_database_url))
    try:

        async def listed() -> bool:
            count = await connection.fetchval(
                "SELECT count(*) FROM instruments WHERE symbol = ANY($1)", list(symbols)
            )
            return bool(count == len(symbols))

        await eventually(listed, timeout=timeout, message="orders never learned the instruments")
    finally:
        await connection.close()
