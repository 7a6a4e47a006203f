"""The health service assembled from libs/common: probes, the poller, the status routes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import aiohttp
from fastapi import FastAPI

from tradewind.common.app import create_service_app, package_version
from tradewind.common.health import Readiness
from tradewind.health.adapters.probes import (
    AmqpConnectivity,
    DependencyCheck,
    PostgresConnectivity,
    RedisConnectivity,
    ServiceProbe,
)
from tradewind.health.api import routes as api
from tradewind.health.domain.status import StatusBoard, TargetKind
from tradewind.health.handlers.poller import Poller
from tradewind.health.settings import HealthSettings

log = logging.getLogger(__name__)

SERVICE = "health"


def create_app(settings: HealthSettings | None = None) -> FastAPI:
    settings = settings or HealthSettings()
    shared = settings.shared
    timeout_s = settings.check_timeout_s

    @asynccontextmanager
    async def lifespan(app: FastAPI, readiness: Readiness) -> AsyncIterator[None]:
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
            app.state.status_board = board
            app.state.poller = poller
            yield

    app = create_service_app(
        service=SERVICE,
        title="Tradewind health",
        version=package_version("tradewind-health"),
        shared=shared,
        lifespan=lifespan,
        routers=[api.router],
        description="Aggregated health of every Tradewind service and dependency, for operators.",
    )
    app.state.settings = settings
    return app
