"""The gateway's authentication, assembled: credentials database, caches, tokens, readiness.

One function, used by the gateway's lifespan (and by tests that need authentication without the
rest of the gateway), so the wiring cannot differ between them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack

import asyncpg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from redis.asyncio import Redis

from tradewind.common.health import Degraded, Readiness
from tradewind.common.problems import dependency_unavailable
from tradewind.common.resilience import CONNECT, retry_async
from tradewind.common.tasks import start_background
from tradewind.gateway.adapters.credentials import (
    COMMAND_TIMEOUT_S,
    AuthStoreUnavailable,
    Credentials,
    create_credentials_pool,
    migrate,
)
from tradewind.gateway.adapters.key_cache import VerifiedKeys, follow_key_changes
from tradewind.gateway.adapters.key_states import SharedKeyCache
from tradewind.gateway.domain.tokens import TokenSigner
from tradewind.gateway.handlers.api_keys import ApiKeyStore
from tradewind.gateway.settings import GatewaySettings

log = logging.getLogger(__name__)

_DATABASE_DOWN = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)
UNREADABLE = "the credentials store cannot be read"


def credentials_check(credentials: Credentials) -> Callable[[], Awaitable[None]]:
    async def check() -> None:
        # Degraded, not down: keys verified recently are still served from the caches. The
        # reason is generic; the error itself goes to the log.
        try:
            async with asyncio.timeout(COMMAND_TIMEOUT_S / 2):
                await credentials.check()
        except (AuthStoreUnavailable, TimeoutError) as exc:
            log.warning("credentials database unreadable", extra={"error": repr(exc)})
            raise Degraded(UNREADABLE) from None

    return check


async def start_authentication(
    resources: AsyncExitStack, settings: GatewaySettings, redis: Redis, readiness: Readiness
) -> ApiKeyStore:
    """Migrate and open the credentials database, follow key changes, register readiness."""
    shared = settings.shared
    database_url = settings.database_url
    if settings.migrate_on_start:
        await retry_async(
            CONNECT,
            lambda: migrate(database_url),
            retry_on=_DATABASE_DOWN,
            name="migrate the credentials database",
        )
    pool = await retry_async(
        CONNECT,
        lambda: create_credentials_pool(database_url, max_size=settings.database_pool_size),
        retry_on=_DATABASE_DOWN,
        name="connect to the credentials database",
    )
    resources.push_async_callback(pool.close)
    credentials = Credentials(pool)
    verified_keys = VerifiedKeys()
    start_background(
        resources,
        follow_key_changes(shared.redis_url, shared.namespace, verified_keys),
        "api key changes",
    )
    readiness.add("credentials", credentials_check(credentials))
    signing_key = settings.token_signing_key
    tokens = None
    if signing_key is not None:
        tokens = TokenSigner(signing_key.get_secret_value().encode(), ttl_s=settings.token_ttl_s)
    return ApiKeyStore(
        credentials,
        SharedKeyCache(redis, shared.namespace, ttl_s=settings.key_cache_ttl_s),
        verified_keys,
        tokens=tokens,
    )


def install_auth_error_handler(app: FastAPI) -> None:
    """A credentials database that cannot answer is a 503 problem, never a 401 or a 500."""

    async def on_auth_store_error(request: Request, exc: Exception) -> JSONResponse:
        return dependency_unavailable(
            request,
            "Credentials cannot be checked right now; retry after the indicated delay.",
            retry_after_s=2,
        )

    app.add_exception_handler(AuthStoreUnavailable, on_auth_store_error)
