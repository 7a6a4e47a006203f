"""Gateway wiring: the factory and its lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from fastapi import FastAPI
from redis.asyncio import Redis

from tradewind.common.app import create_service_app
from tradewind.common.broker import Broker, Topology
from tradewind.common.health import Readiness
from tradewind.common.resilience import CircuitBreaker
from tradewind.gateway.api import orders
from tradewind.gateway.auth import ALL_SCOPES, ApiKeyStore
from tradewind.gateway.pending import PendingOrders
from tradewind.gateway.settings import GatewaySettings
from tradewind.gateway.upstream import ServiceClient

log = logging.getLogger(__name__)


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    shared = settings.shared

    @asynccontextmanager
    async def lifespan(app: FastAPI, readiness: Readiness) -> AsyncIterator[None]:
        redis = Redis.from_url(shared.redis_url, socket_timeout=2, socket_connect_timeout=2)
        broker = Broker(
            shared.amqp_url,
            Topology(shared.namespace, shared.retry_delays_ms),
            service="gateway",
            publish_timeout_s=shared.publish_timeout_s,
        )
        await broker.connect()
        http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200))

        async def check_redis() -> None:
            await redis.ping()

        readiness.add("broker", broker.check)
        readiness.add("redis", check_redis)
        app.state.broker = broker
        app.state.api_keys = ApiKeyStore(redis, shared.namespace)
        app.state.pending_orders = PendingOrders(
            redis, shared.namespace, settings.pending_order_ttl_s
        )
        app.state.orders_service = ServiceClient(
            "orders",
            settings.orders_url,
            http,
            CircuitBreaker(
                "orders",
                failure_threshold=settings.breaker_failure_threshold,
                recovery_timeout=settings.breaker_recovery_s,
            ),
            attempt_timeout_s=settings.upstream_attempt_timeout_s,
            budget_s=settings.upstream_budget_s,
        )
        if settings.demo_api_key is not None:
            await app.state.api_keys.create(
                "demo", ALL_SCOPES, secret=settings.demo_api_key.get_secret_value()
            )
            log.info("demo API key provisioned", extra={"account_id": "demo"})
        try:
            yield
        finally:
            await http.close()
            await broker.close()
            await redis.aclose()

    return create_service_app(
        service="gateway",
        title="Tradewind API",
        version="0.1.0",
        shared=shared,
        lifespan=lifespan,
        routers=[orders.router],
        description="Place and manage orders. Errors are RFC 9457 problem details.",
    )
