"""The drills' own system: every service as a process the drills may kill, on a namespace and
databases of its own, orders reaching the broker through a proxy the drills may cut."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import asyncpg
import httpx

from chaos.servers import RestartableServer
from support.broker_view import queue_names
from support.commands import command_message
from support.infra import Infra
from support.polling import eventually
from support.services import ServiceProcess, free_port
from support.system import (
    SystemPorts,
    SystemProcesses,
    create_system_databases,
    plain_dsn,
    start_system,
    system_env,
)
from support.tcp_proxy import TcpProxy
from tradewind.common.envelope import CloudEvent
from tradewind.gateway.domain.auth_model import DEFAULT_SCOPES
from tradewind.gateway.handlers.api_keys import open_key_store

log = logging.getLogger(__name__)

# Retries quick enough that a poison command is parked within seconds, with enough attempts that
# a cancel which overtook its place (on another process) is not parked while the place lands.
RETRY_DELAYS_MS = (100, 250, 500)
MAX_DELIVERY_ATTEMPTS = 8
CHAOS_SETTINGS = {
    # Warnings and errors only: the drills load the machine enough without INFO lines.
    "TRADEWIND_LOG_LEVEL": "WARNING",
    # A delivery is never given up in a drill (a slow receiver on a busy machine is no fault of
    # the system), and a crashed dispatcher's leases come due again within seconds.
    "TRADEWIND_WEBHOOKS_RETRY_SCHEDULE": "200ms,500ms,1s,2s,2s,2s,2s,2s,2s,2s",
    "TRADEWIND_WEBHOOKS_REQUEST_TIMEOUT_S": "3",
    "TRADEWIND_WEBHOOKS_DELIVERY_LEASE": "5s",
    "TRADEWIND_WEBHOOKS_BREAKER_OPEN_FOR": "1s",
}


@dataclass(frozen=True)
class Poison:
    """A message a drill injected, expected in ``parking_lot`` and nowhere else."""

    message_id: str
    parking_lot: str


@dataclass
class ChaosSystem:
    infra: Infra
    env: dict[str, str]
    ports: SystemPorts
    processes: SystemProcesses
    orders_broker: TcpProxy
    """The orders processes' only way to RabbitMQ."""
    orders_db: asyncpg.Pool
    webhooks_db: asyncpg.Pool
    parking_lots: list[str]
    extra_orders: list[ServiceProcess] = field(default_factory=list)
    poisons: list[Poison] = field(default_factory=list)
    servers: Mapping[str, RestartableServer] = field(default_factory=dict)
    """The run's private servers, by name: the only ones a drill may restart."""

    @property
    def namespace(self) -> str:
        return self.env["TRADEWIND_NAMESPACE"]

    @property
    def orders_env(self) -> dict[str, str]:
        return {**self.env, **_through(self.orders_broker, self.infra.amqp_url)}

    async def restart(self, process: ServiceProcess) -> None:
        """Start a process again on its port (it was killed) and wait until it is ready."""
        process.kill()  # already dead after a kill fault: a no-op then
        await process.start().wait_ready(60)

    async def start_second_orders(self) -> ServiceProcess:
        port = free_port()
        env = {**self.orders_env, "TRADEWIND_ORDERS_PORT": str(port)}
        process = ServiceProcess("chaos-orders-2", "tradewind.orders", port, env).start()
        self.extra_orders.append(process)
        await process.wait_ready(60)
        return process

    async def create_key(self, account: str) -> str:
        async with open_key_store(
            self.env["TRADEWIND_GATEWAY_DATABASE_URL"], self.infra.redis_url, self.namespace
        ) as store:
            return (await store.create(account, DEFAULT_SCOPES)).secret

    async def register_webhook(self, key: str, url: str) -> None:
        """An endpoint for every order event of the key's account, through the gateway."""
        async with httpx.AsyncClient(base_url=self.processes.gateway.url, timeout=10) as client:

            async def created() -> bool:
                response = await client.post(
                    "/api/v1/webhooks/endpoints",
                    json={"url": url, "event_types": ["order.*"]},
                    headers={"Authorization": f"Bearer {key}"},
                )
                if response.status_code >= 500:
                    return False  # a service still starting: try again
                assert response.status_code == 201, response.text
                return True

            await eventually(created, timeout=30, interval=0.2, message="endpoint not created")

    # --- the broker, seen from outside ---

    async def publish_command(self, command: CloudEvent) -> None:
        connection = await aio_pika.connect(self.infra.amqp_url)
        async with connection:
            channel = await connection.channel(publisher_confirms=True)
            exchange = await channel.get_exchange(f"{self.namespace}.commands")
            await exchange.publish(
                command_message(command),
                routing_key=command.type,
            )

    async def publish_to_queue(self, queue: str, body: bytes, message_id: str) -> None:
        """Straight into ``queue`` (the default exchange), as a broken publisher could."""
        connection = await aio_pika.connect(self.infra.amqp_url)
        async with connection:
            channel = await connection.channel(publisher_confirms=True)
            await channel.default_exchange.publish(
                aio_pika.Message(
                    body, message_id=message_id, delivery_mode=aio_pika.DeliveryMode.PERSISTENT
                ),
                routing_key=queue,
            )

    async def parked_counts(self) -> dict[str, int]:
        """Messages in each parking lot, as the broker counts them (nothing is read)."""
        connection = await aio_pika.connect(self.infra.amqp_url)
        async with connection:
            channel = await connection.channel()
            counts = {}
            for name in self.parking_lots:
                queue = await channel.declare_queue(name, passive=True)
                counts[name] = queue.declaration_result.message_count or 0
            return counts

    async def parked_messages(self) -> dict[str, list[str]]:
        """Message ids in each parking lot, read with basic.get and never acked: closing the
        channel gives every one of them back to its queue."""
        connection = await aio_pika.connect(self.infra.amqp_url)
        async with connection:
            channel = await connection.channel()
            parked: dict[str, list[str]] = {}
            for name in self.parking_lots:
                queue = await channel.declare_queue(name, passive=True)
                ids = []
                while (message := await queue.get(no_ack=False, fail=False)) is not None:
                    ids.append(message.message_id or "")
                parked[name] = ids
            return parked


@contextlib.asynccontextmanager
async def chaos_system(
    infra: Infra, servers: Mapping[str, RestartableServer] | None = None
) -> AsyncIterator[ChaosSystem]:
    """Start the system on ``infra`` (best a run of its own); stop it and everything with it.
    ``servers``: those of ``infra``'s servers that the run started itself (chaos.servers)."""
    namespace = f"{infra.namespace}-chaos"
    databases = await create_system_databases(infra, prefix="chaos_")
    ports = SystemPorts.free()
    env = system_env(
        infra,
        namespace=namespace,
        databases=databases,
        ports=ports,
        retry_delays_ms=RETRY_DELAYS_MS,
        max_delivery_attempts=MAX_DELIVERY_ATTEMPTS,
        overrides=CHAOS_SETTINGS,
    )
    broker = urlsplit(infra.amqp_url)
    proxy = await TcpProxy(broker.hostname or "127.0.0.1", broker.port or 5672).start()
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(proxy.stop)
        orders_db = await asyncpg.create_pool(plain_dsn(databases.orders), min_size=1, max_size=2)
        stack.push_async_callback(orders_db.close)
        webhooks_db = await asyncpg.create_pool(
            plain_dsn(databases.webhooks), min_size=1, max_size=2
        )
        stack.push_async_callback(webhooks_db.close)
        processes = await start_system(
            env, ports, name_prefix="chaos-", orders_overrides=_through(proxy, infra.amqp_url)
        )
        system = ChaosSystem(
            infra, env, ports, processes, proxy, orders_db, webhooks_db, [], servers=servers or {}
        )
        stack.callback(_stop_all, system)
        system.parking_lots = sorted(
            name for name in await queue_names(infra, f"{namespace}.") if name.endswith(".parked")
        )
        log.info("chaos system up: namespace %s, parking lots %s", namespace, system.parking_lots)
        yield system


def _through(proxy: TcpProxy, amqp_url: str) -> dict[str, str]:
    """The AMQP setting of a process that reaches the broker through ``proxy``."""
    parts = urlsplit(amqp_url)
    credentials = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    proxied = parts._replace(netloc=f"{credentials}127.0.0.1:{proxy.port}")
    return {"TRADEWIND_AMQP_URL": urlunsplit(proxied)}


def _stop_all(system: ChaosSystem) -> None:
    for process in system.extra_orders:
        process.kill()
    system.processes.stop()


def new_message_id() -> str:
    return f"chaos-poison-{uuid.uuid4().hex[:12]}"
