"""The faults a drill injects, one at a time, and how the system is brought back from each.

A fault has three steps: ``prepare`` (before the load starts), ``inject`` (the fault itself) and
``recover`` (what an operator or a supervisor does: restart the process, restore the network).
``recover`` first lets the outage last while the load keeps coming (``Drill.outage``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
import subprocess
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from chaos.system import Poison, new_message_id
from support.polling import eventually
from support.services import ServiceProcess
from tradewind.common.contracts import PlaceOrder
from tradewind.common.contracts.types import OrderType, Side, TimeInForce, utc_now
from tradewind.common.envelope import new_event

if TYPE_CHECKING:
    from chaos.drill import Drill

log = logging.getLogger(__name__)


class Fault:
    name: str

    async def prepare(self, drill: Drill) -> None:
        """Set the stage before the load starts (nothing, for most faults)."""

    async def inject(self, drill: Drill) -> None:
        raise NotImplementedError

    async def recover(self, drill: Drill) -> None:
        """Undo the fault once the outage has lasted (nothing, for a fault the system absorbs)."""


@dataclass
class KillService(Fault):
    """kill -9 of one of the system's processes, then a restart on the same port."""

    service: str
    name: str = field(init=False)

    def __post_init__(self) -> None:
        self.name = f"kill -9 {self.service}"

    def process(self, drill: Drill) -> ServiceProcess:
        processes = drill.system.processes
        by_name = {
            "gateway": processes.gateway,
            "orders": processes.orders,
            "market-data": processes.market_data,
            "webhooks": processes.webhooks,
        }
        return by_name[self.service]

    async def inject(self, drill: Drill) -> None:
        self.process(drill).kill()

    async def recover(self, drill: Drill) -> None:
        await drill.outage()
        await drill.system.restart(self.process(drill))


class KillSecondOrders(Fault):
    """Two orders processes share the queues; kill -9 one, the other carries on alone."""

    name = "kill -9 2nd orders"

    def __init__(self) -> None:
        self.second: ServiceProcess | None = None

    async def prepare(self, drill: Drill) -> None:
        self.second = await drill.system.start_second_orders()

    async def inject(self, drill: Drill) -> None:
        assert self.second is not None
        self.second.kill()


class PoisonCommand(Fault):
    """A place command that breaks the contract (a NUL in its client_order_id, which PostgreSQL
    cannot store), published among the load's commands as a publisher that skips the contract
    would: orders must park it, alone, and take the rest of its batch as if it were not there."""

    name = "poison orders command"

    async def inject(self, drill: Drill) -> None:
        values: dict[str, Any] = {
            "order_id": uuid.uuid4(),
            "account_id": drill.account,
            "symbol": drill.market.symbols[0],
            "side": Side.BUY,
            "type": OrderType.LIMIT,
            "qty": Decimal(1),
            "limit_price": Decimal(1),
            "time_in_force": TimeInForce.GTC,
            "client_order_id": "poison\x00",
            "submitted_at": utc_now(),
        }
        data = PlaceOrder.model_construct(**values)
        command = new_event(
            source="/chaos", data=data, event_type=data.TYPE, account_id=drill.account
        )
        system = drill.system
        system.poisons.append(Poison(command.id, f"{system.namespace}.orders.commands.parked"))
        await system.publish_command(command)


class PoisonEvent(Fault):
    """Bytes that are no CloudEvent, straight into the webhooks events queue: parked at once."""

    name = "poison webhooks event"

    async def inject(self, drill: Drill) -> None:
        system = drill.system
        queue = f"{system.namespace}.webhooks.events"
        message_id = new_message_id()
        system.poisons.append(Poison(message_id, f"{queue}.parked"))
        await system.publish_to_queue(queue, b"\x00not a cloud event", message_id)


class CutOrdersBroker(Fault):
    """The network between orders and RabbitMQ fails while publishes are in flight: first what
    orders sends stops arriving (its acks, its events: publishes that wait for confirms) while
    commands still reach it, then every connection is cut; restored after the outage."""

    name = "cut orders-broker network"

    async def inject(self, drill: Drill) -> None:
        proxy = drill.system.orders_broker
        proxy.lose_requests()

        async def publishes_in_flight() -> bool:
            waiting = await drill.system.orders_db.fetchval(
                "SELECT count(*) FROM outbox WHERE published_at IS NULL"
            )
            return bool(waiting)

        try:
            await eventually(publishes_in_flight, timeout=10, interval=0.02)
        except AssertionError:
            log.warning("no event was waiting for its confirm when the network was cut")
        proxy.cut()

    async def recover(self, drill: Drill) -> None:
        await drill.outage()
        drill.system.orders_broker.restore()
        # Ready again once its broker connection is back (readiness checks it).
        await drill.system.processes.orders.wait_ready(60)


# --- the shared infrastructure: only with --with-infra-restarts ---

INFRA_RESTART_COMMANDS: Mapping[str, str] = {
    "rabbitmq": "sudo -n systemctl restart rabbitmq-server",
    "postgresql": "sudo -n systemctl restart postgresql",
    "redis": "sudo -n systemctl restart redis-server",
}


@dataclass
class RestartInfra(Fault):
    """Restart a shared server (RabbitMQ, PostgreSQL, Redis) under the load.

    This disturbs everyone who uses the server, which is why it runs only when asked for. The
    command comes from TRADEWIND_CHAOS_RESTART_<NAME> (e.g. ``TRADEWIND_CHAOS_RESTART_REDIS``),
    or the systemd default in ``INFRA_RESTART_COMMANDS``.
    """

    server: str
    name: str = field(init=False)

    def __post_init__(self) -> None:
        self.name = f"restart {self.server}"

    @property
    def command(self) -> list[str]:
        variable = f"TRADEWIND_CHAOS_RESTART_{self.server.upper()}"
        return shlex.split(os.environ.get(variable, INFRA_RESTART_COMMANDS[self.server]))

    async def inject(self, drill: Drill) -> None:
        await asyncio.to_thread(
            subprocess.run, self.command, check=True, capture_output=True, timeout=300
        )

    async def recover(self, drill: Drill) -> None:
        system = drill.system

        async def healthy() -> bool:
            return await asyncio.to_thread(system.infra.health_problem) is None

        await eventually(healthy, timeout=120, interval=0.5, message=f"{self.server} not back")
        # The harness's own database connections did not survive a PostgreSQL restart.
        await system.orders_db.expire_connections()
        await system.webhooks_db.expire_connections()
        for process in system.processes:
            await process.wait_ready(120)


def service_faults() -> list[Fault]:
    """Every fault of the full drill that leaves the shared servers alone."""
    return [
        KillService("gateway"),
        KillService("orders"),
        KillService("market-data"),
        KillService("webhooks"),
        KillSecondOrders(),
        PoisonCommand(),
        PoisonEvent(),
        CutOrdersBroker(),
    ]


def infra_faults() -> list[Fault]:
    return [RestartInfra(server) for server in INFRA_RESTART_COMMANDS]


def short_faults() -> list[Fault]:
    """The few that `make test` runs."""
    return [KillService("orders"), KillService("webhooks"), PoisonCommand()]


def faults_named(names: Sequence[str], with_infra_restarts: bool) -> list[Fault]:
    available = service_faults() + (infra_faults() if with_infra_restarts else [])
    chosen = [fault for fault in available if slug(fault.name) in names]
    unknown = set(names) - {slug(fault.name) for fault in available}
    if unknown:
        known = [slug(fault.name) for fault in available]
        raise ValueError(f"unknown faults {sorted(unknown)}; known: {known}")
    return chosen


def slug(name: str) -> str:
    """A fault's name as a word for the command line and for account ids: kill-orders."""
    return "-".join(name.replace("kill -9", "kill").replace("2nd", "second").split())
