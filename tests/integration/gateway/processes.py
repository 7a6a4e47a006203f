"""Gateways as processes, for tests that kill one or take a dependency away beneath it.

They run on this run's gateway database and RabbitMQ vhost, in the test's Redis namespace; the
Redis is the run's unless a test gives its own (a private ``redis-server`` it can restart). Reads
proxied to a service fail fast: nothing listens at the services' addresses.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from support.infra import Infra
from support.services import ServiceProcess, free_port


@dataclass
class GatewayProcesses:
    infra: Infra
    database_url: str
    namespace: str
    started: list[ServiceProcess] = field(default_factory=list)
    closed_port: int = field(default_factory=free_port)

    async def start(
        self, name: str, *, redis_url: str | None = None, **settings: str
    ) -> ServiceProcess:
        """A ready gateway; ``settings`` are environment variables (``TRADEWIND_GATEWAY_…``)."""
        port = free_port()
        nowhere = f"http://127.0.0.1:{self.closed_port}"
        env = {
            "TRADEWIND_NAMESPACE": self.namespace,
            "TRADEWIND_AMQP_URL": self.infra.amqp_url,
            "TRADEWIND_REDIS_URL": redis_url or self.infra.redis_url,
            "TRADEWIND_GATEWAY_PORT": str(port),
            "TRADEWIND_GATEWAY_DATABASE_URL": self.database_url,
            "TRADEWIND_GATEWAY_MIGRATE_ON_START": "false",
            "TRADEWIND_GATEWAY_ORDERS_URL": nowhere,
            "TRADEWIND_GATEWAY_MARKET_DATA_URL": nowhere,
            "TRADEWIND_GATEWAY_WEBHOOKS_URL": nowhere,
            **settings,
        }
        process = ServiceProcess(f"{name}-{self.namespace}", "tradewind.gateway", port, env)
        self.started.append(process.start())
        await process.wait_ready()
        return process

    def stop_all(self) -> None:
        for process in self.started:
            process.stop()
