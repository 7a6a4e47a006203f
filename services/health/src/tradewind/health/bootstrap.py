"""The health service's wiring, in one place: probes, the poller, and what they hold open."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import aiohttp

from tradewind.common.broker import Topology
from tradewind.common.broker.catalog import consumed_queues
from tradewind.common.health import Readiness
from tradewind.health.adapters.probes import (
    AmqpConnectivity,
    DependencyCheck,
    PostgresConnectivity,
    RedisConnectivity,
    ServiceProbe,
)
from tradewind.health.adapters.queues import (
    ManagementApiReader,
    PassiveDeclareReader,
    QueueReader,
    vhost_of,
)
from tradewind.health.domain.backlogs import BacklogPolicy
from tradewind.health.domain.readings import WatchedQueue
from tradewind.health.domain.status import StatusBoard, TargetKind
from tradewind.health.handlers.poller import Poller
from tradewind.health.settings import HealthSettings

log = logging.getLogger(__name__)

SERVICE = "health"


@dataclass(frozen=True)
class HealthRuntime:
    """What the running service holds; the API reads it (``api.routes``)."""

    settings: HealthSettings
    board: StatusBoard
    poller: Poller


def watched_queues(settings: HealthSettings) -> dict[str, list[WatchedQueue]]:
    """Each watched service's queues, from the shared catalog (by the service's name)."""
    topology = Topology(settings.shared.namespace)
    return {
        name: [
            WatchedQueue(queue.name(topology), queue.parking_lot(topology))
            for queue in consumed_queues(name)
        ]
        for name in settings.services
    }


def queue_reader(
    settings: HealthSettings, amqp: AmqpConnectivity, http: aiohttp.ClientSession
) -> QueueReader:
    timeout_s = settings.check_timeout_s
    if settings.rabbitmq_management_url is not None:
        return ManagementApiReader(
            settings.rabbitmq_management_url.get_secret_value(),
            vhost_of(settings.shared.amqp_url),
            http,
            timeout_s=timeout_s,
        )
    return PassiveDeclareReader(amqp, timeout_s=timeout_s)


@asynccontextmanager
async def bootstrap(settings: HealthSettings, readiness: Readiness) -> AsyncIterator[HealthRuntime]:
    """Open every resource, run the first poll round, start the poller; close all on exit."""
    shared = settings.shared
    timeout_s = settings.check_timeout_s
    async with AsyncExitStack() as resources:
        http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=50))
        resources.push_async_callback(http.close)
        services = {
            name: ServiceProbe(
                name, url, http, timeout_s=timeout_s, metrics_url=settings.metrics_url(name)
            )
            for name, url in settings.service_urls().items()
        }

        amqp = AmqpConnectivity(shared.amqp_url, connection_name=SERVICE)
        resources.push_async_callback(amqp.close)
        redis = RedisConnectivity(shared.redis_url, timeout_s=timeout_s)
        resources.push_async_callback(redis.close)
        dependencies: dict[str, DependencyCheck] = {
            "rabbitmq": amqp.check,
            "redis": redis.check,
        }
        for name, dsn in settings.postgres_dsns.items():
            dependencies[name] = PostgresConnectivity(
                dsn.get_secret_value(), timeout_s=timeout_s
            ).check

        board = StatusBoard(transitions_kept=settings.transitions_kept)
        poller = Poller(
            board,
            services,
            dependencies,
            interval_s=settings.poll_interval_s,
            timeout_s=timeout_s,
            queues=watched_queues(settings),
            queue_reader=queue_reader(settings, amqp, http),
            policy=BacklogPolicy(
                outbox_lag_limit_s=settings.outbox_lag_limit_s,
                outbox_growing_from_s=settings.outbox_growing_from_s,
            ),
        )
        # One round before serving: the first page an operator sees is already complete.
        await poller.poll_once()
        log.info(
            "watching",
            extra={
                "overall": board.overall().value,
                "services": {s.name: s.status.value for s in board.states(TargetKind.SERVICE)},
                "dependencies": {
                    s.name: s.status.value for s in board.states(TargetKind.DEPENDENCY)
                },
            },
        )
        poller.start()
        resources.push_async_callback(poller.stop)

        # Only the poller decides the health service's own readiness: a monitor that went
        # unready whenever Redis or a service failed would be restarted exactly when needed.
        readiness.add("poller", poller.check)
        yield HealthRuntime(settings=settings, board=board, poller=poller)
