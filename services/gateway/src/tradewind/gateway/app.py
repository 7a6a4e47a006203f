"""The gateway's app: its routes, errors and middleware on the shared app factory, wired by
``bootstrap``."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError

from tradewind.common.app import create_bootstrapped_app
from tradewind.common.compression import GZipWhenAskedMiddleware
from tradewind.common.problems import dependency_unavailable
from tradewind.gateway.api import (
    account,
    admission,
    auth_tokens,
    bulk,
    clock,
    jobs,
    keys,
    market,
    orders,
    positions,
    stream,
    trading_block,
    webhooks,
)
from tradewind.gateway.api.direct_orders import direct_order_entry
from tradewind.gateway.api.graphql.route import graphql_router
from tradewind.gateway.api.openapi import install_openapi
from tradewind.gateway.auth_setup import install_auth_error_handler
from tradewind.gateway.bootstrap import SERVICE, bootstrap
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
    app = create_bootstrapped_app(
        settings,
        bootstrap,
        service=SERVICE,
        title="Tradewind API",
        distribution="tradewind-gateway",
        routers=[
            bulk.orders_router,
            orders.router,
            bulk.positions_router,
            positions.router,
            account.router,
            trading_block.router,
            jobs.router,
            market.router,
            clock.router,
            webhooks.router,
            stream.router,
            keys.router,
            auth_tokens.router,
            graphql_router(settings),
        ],
        metrics_on_app=settings.metrics_port is None,
        description="Place and manage orders. Errors are RFC 9457 problem details.\n\n"
        + admission.describe(settings),
    )

    async def on_redis_error(request: Request, exc: Exception) -> JSONResponse:
        log.warning("redis unavailable", extra={"error": repr(exc), "path": request.url.path})
        return dependency_unavailable(
            request,
            "A dependency of the gateway is unavailable; retry after the indicated delay.",
            retry_after_s=2,
        )

    # Innermost of the middleware (the rest is added outside it below): POST /api/v1/orders
    # passes every layer but FastAPI's routing and request machinery.
    app.user_middleware.append(direct_order_entry(orders.PLACE_ORDER_ROUTE))
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
