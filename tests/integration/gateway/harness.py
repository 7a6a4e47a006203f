"""What the gateway's integration tests share: a running gateway's handles and credentials."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import httpx
from fastapi import FastAPI
from redis.asyncio import Redis

from support.gateway_runtime import partial_runtime
from support.polling import eventually
from tradewind.common.app import create_service_app, runtime_lifespan
from tradewind.common.health import Readiness
from tradewind.gateway.api import admission, auth_tokens, keys, orders
from tradewind.gateway.api.admission import Admission
from tradewind.gateway.auth_setup import install_auth_error_handler, start_authentication
from tradewind.gateway.bootstrap import GatewayRuntime
from tradewind.gateway.domain.rate_limits import default_budgets
from tradewind.gateway.settings import GatewaySettings

SIGNING_KEY = "integration-tests-signing-key-0123456789abcdef"


@dataclass
class Gateway:
    app: FastAPI
    client: httpx.AsyncClient
    settings: GatewaySettings


GatewayFactory = Callable[..., AbstractAsyncContextManager[Gateway]]


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


async def refused_soon(
    gateway: Gateway, credential: str, status: int, *, path: str = "/api/v1/auth/me"
) -> None:
    """``credential`` is refused with ``status`` by ``gateway`` within a second.

    Gateways of one process share its event loop: a key change announced over Redis reaches
    another in-process gateway when its listener task next runs, not before the test's next
    statement. That "the next request" is refused across processes is the e2e test's
    (tests/e2e/test_gateway_keys.py); here the change must arrive, promptly.
    """

    async def refused() -> bool:
        response = await gateway.client.get(path, headers=bearer(credential))
        return response.status_code == status

    await eventually(refused, timeout=1.0, message=f"{path} was not refused with {status}")


def authentication_app(settings: GatewaySettings) -> FastAPI:
    """The gateway's authentication, wired as the gateway wires it, without broker or upstreams."""

    @asynccontextmanager
    async def bootstrap(readiness: Readiness) -> AsyncIterator[GatewayRuntime]:
        async with AsyncExitStack() as resources:
            redis = Redis.from_url(settings.shared.redis_url, socket_timeout=2)
            resources.push_async_callback(redis.aclose)
            api_keys = await start_authentication(resources, settings, redis, readiness)
            admission = Admission(
                redis,
                settings.shared.namespace,
                default_budgets(settings),
                idempotency_ttl_s=settings.idempotency_ttl_s,
                idempotency_lock_s=settings.idempotency_lock_s,
            )
            yield partial_runtime(
                settings=settings, redis=redis, api_keys=api_keys, admission=admission
            )

    app = create_service_app(
        service="gateway",
        title="Tradewind API (authentication)",
        version="0",
        shared=settings.shared,
        lifespan=runtime_lifespan(bootstrap),
        routers=[orders.router, keys.router, auth_tokens.router],
    )
    install_auth_error_handler(app)
    # Every scope check admits its request (rate limit, Idempotency-Key), as in the gateway.
    admission.install(app, settings)
    return app
