"""Gateway wiring: the factory and its lifespan."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import aiohttp
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import RedisError

from tradewind.common.app import create_service_app, package_version
from tradewind.common.broker import Broker, QueueSpec, Topology
from tradewind.common.compression import GZipWhenAskedMiddleware
from tradewind.common.health import Readiness
from tradewind.common.internal_auth import internal_headers
from tradewind.common.problems import problem_response
from tradewind.common.resilience import CircuitBreaker
from tradewind.common.tasks import start_background
from tradewind.gateway.adapters.pending import PendingOrders
from tradewind.gateway.adapters.script_batches import ScriptBatches
from tradewind.gateway.adapters.stream_bindings import StreamBindings
from tradewind.gateway.adapters.stream_limits import StreamConnectionLimit
from tradewind.gateway.adapters.upstream import ServiceClient
from tradewind.gateway.api import (
    admission,
    auth_tokens,
    keys,
    market,
    orders,
    positions,
    stream,
    webhooks,
)
from tradewind.gateway.api.admission import Admission
from tradewind.gateway.api.openapi import install_openapi
from tradewind.gateway.auth_setup import install_auth_error_handler, start_authentication
from tradewind.gateway.domain.auth_model import DEFAULT_SCOPES
from tradewind.gateway.domain.rate_limits import default_budgets
from tradewind.gateway.handlers.stream_hub import StreamHub
from tradewind.gateway.settings import GatewaySettings

log = logging.getLogger(__name__)
# Response headers a browser page may read (the rest of the CORS-safelisted ones it always can).
CORS_EXPOSED_HEADERS = [
    "Location",
    "Retry-After",
    "X-Request-ID",
    "RateLimit",
    "RateLimit-Policy",
    "Idempotency-Key",
    "Idempotent-Replayed",
    "Deprecation",
    "Sunset",
    "Link",
]


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    shared = settings.shared

    @asynccontextmanager
    async def lifespan(app: FastAPI, readiness: Readiness) -> AsyncIterator[None]:
        async with AsyncExitStack() as resources:
            # Blocking pool: under a burst, requests wait briefly for a connection instead of
            # failing.
            redis = Redis(
                connection_pool=BlockingConnectionPool.from_url(
                    shared.redis_url,
                    max_connections=settings.redis_max_connections,
                    timeout=2,
                    socket_timeout=2,
                    socket_connect_timeout=2,
                )
            )
            resources.push_async_callback(redis.aclose)
            topology = Topology(shared.namespace, shared.retry_delays_ms)
            broker = Broker.from_settings(shared, service="gateway")
            resources.push_async_callback(broker.close)
            await broker.connect()
            # One exclusive queue per gateway process: every process sees every event it fans
            # out. It is bound only while its clients subscribe (adapters.stream_bindings).
            stream_queue = QueueSpec(
                topology.queue_name("gateway", f"stream.{uuid.uuid4().hex[:12]}"), exclusive=True
            )
            hub = StreamHub(StreamBindings(broker, stream_queue, topology.events))
            await broker.consume(stream_queue, hub.on_event)
            # Only the services' internal APIs are called through this session: each call carries
            # the internal credential.
            http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=200),
                headers=internal_headers(shared.internal_token),
            )
            resources.push_async_callback(http.close)
            api_keys = await start_authentication(resources, settings, redis, readiness)

            async def check_redis() -> None:
                await redis.ping()

            readiness.add("broker", broker.check)
            readiness.add("redis", check_redis)
            app.state.broker = broker
            app.state.settings = settings
            app.state.stream_hub = hub
            stream_connections = StreamConnectionLimit(
                redis,
                shared.namespace,
                limit=settings.stream_max_connections_per_key,
                lease_s=settings.stream_connection_lease_s,
            )
            start_background(resources, stream_connections.keep_leases(), "stream leases")
            app.state.stream_connections = stream_connections
            app.state.api_keys = api_keys
            script_batches = ScriptBatches(redis)
            start_background(resources, script_batches.send_batches(), "admission scripts")
            app.state.admission = Admission(
                redis,
                shared.namespace,
                default_budgets(settings),
                idempotency_ttl_s=settings.idempotency_ttl_s,
                idempotency_lock_s=settings.idempotency_lock_s,
                batches=script_batches,
            )
            pending_orders = PendingOrders(redis, shared.namespace, settings.pending_order_ttl_s)
            start_background(resources, pending_orders.write_batches(), "pending order views")
            app.state.pending_orders = pending_orders
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
            for name, url in (
                ("market_data", settings.market_data_url),
                ("webhooks", settings.webhooks_url),
            ):
                setattr(
                    app.state,
                    f"{name}_service",
                    ServiceClient(
                        name.replace("_", "-"),
                        url,
                        http,
                        CircuitBreaker(
                            name,
                            failure_threshold=settings.breaker_failure_threshold,
                            recovery_timeout=settings.breaker_recovery_s,
                        ),
                        attempt_timeout_s=settings.upstream_attempt_timeout_s,
                        budget_s=settings.upstream_budget_s,
                    ),
                )
            if settings.demo_api_key is not None:
                await app.state.api_keys.create(
                    "demo", DEFAULT_SCOPES, secret=settings.demo_api_key.get_secret_value()
                )
                log.info("demo API key provisioned", extra={"account_id": "demo"})
            yield

    app = create_service_app(
        service="gateway",
        title="Tradewind API",
        version=package_version("tradewind-gateway"),
        shared=shared,
        lifespan=lifespan,
        routers=[
            orders.router,
            positions.router,
            market.router,
            webhooks.router,
            stream.router,
            keys.router,
            auth_tokens.router,
        ],
        metrics_on_app=settings.metrics_port is None,
        description="Place and manage orders. Errors are RFC 9457 problem details.\n\n"
        + admission.describe(settings),
    )

    async def on_redis_error(request: Request, exc: Exception) -> JSONResponse:
        log.warning("redis unavailable", extra={"error": repr(exc), "path": request.url.path})
        return problem_response(
            503,
            "Service Unavailable",
            "A dependency of the gateway is unavailable; retry after the indicated delay.",
            kind="dependency-unavailable",
            instance=request.url.path,
            headers={"Retry-After": "2"},
        )

    app.add_exception_handler(RedisError, on_redis_error)
    install_auth_error_handler(app)
    install_openapi(app)
    # Inside compression: an Idempotency-Key's stored answer is the uncompressed one, and a
    # replay is compressed for the client that asks, like any answer.
    admission.install(app, settings)
    # Compression only where it pays: a body under the minimum goes out as it is (the 202 of an
    # order is some 400 bytes). Level 6, zlib's default: level 9 costs far more CPU for little.
    app.add_middleware(
        GZipWhenAskedMiddleware, minimum_size=settings.gzip_minimum_bytes, compresslevel=6
    )
    if settings.cors_allow_origins:
        # Outermost, so a preflight is answered before authentication. No credentials: the API
        # key travels in a header a page sets itself, never in a cookie.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_allow_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID"],
            expose_headers=CORS_EXPOSED_HEADERS,
            max_age=600,
        )
    return app
