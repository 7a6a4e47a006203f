"""The gateway's authentication in this process, on real PostgreSQL and Redis: the credentials of
record in this run's gateway database, a Redis namespace and a key store per test.

A gateway here is the gateway's authentication as ``create_app`` assembles it
(``start_authentication``, the same function), with the routes that need nothing else: keys,
tokens, and the orders routes up to their scope checks. It needs no broker and no upstream
service, so these tests stay about credentials.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from integration.gateway.harness import SIGNING_KEY, Gateway, GatewayFactory, authentication_app
from support.infra import Infra
from tradewind.common.settings import SharedSettings
from tradewind.gateway.auth import ApiKeyStore, open_key_store
from tradewind.gateway.credentials import migrate
from tradewind.gateway.settings import GatewaySettings

_namespaces = itertools.count(1)


@pytest.fixture(scope="session")
async def gateway_database(infra: Infra) -> str:
    url = await infra.create_database("gateway")
    await migrate(url)
    return url


@pytest.fixture
def namespace(infra: Infra) -> str:
    # A Redis namespace per test: flushing one test's keys never touches another's.
    return f"{infra.namespace}-gw{next(_namespaces)}"


@pytest.fixture
def gateway_factory(infra: Infra, gateway_database: str, namespace: str) -> GatewayFactory:
    """``async with gateway_factory(**setting_overrides) as gateway:`` — a started gateway."""

    @asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[Gateway]:
        values: dict[str, Any] = {
            "database_url": gateway_database,
            "migrate_on_start": False,
            "token_signing_key": SIGNING_KEY,
            "shared": SharedSettings(
                namespace=namespace,
                amqp_url=infra.amqp_url,
                redis_url=infra.redis_url,
                log_json=False,
            ),
            **overrides,
        }
        settings = GatewaySettings.model_validate(values)
        app = authentication_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://gateway", timeout=10
            ) as client:
                yield Gateway(app, client, settings)

    return start


@pytest.fixture
async def gateway(gateway_factory: GatewayFactory) -> AsyncIterator[Gateway]:
    async with gateway_factory() as started:
        yield started


@pytest.fixture
async def keys(infra: Infra, gateway_database: str, namespace: str) -> AsyncIterator[ApiKeyStore]:
    """The operator's store (what the CLI uses), on the same database and namespace."""
    async with open_key_store(gateway_database, infra.redis_url, namespace) as store:
        yield store


@pytest.fixture
async def redis(infra: Infra) -> AsyncIterator[Redis]:
    client = Redis.from_url(infra.redis_url)
    yield client
    await client.aclose()


_accounts = itertools.count(1)


@pytest.fixture
def account(namespace: str) -> str:
    """An account of this test's own (the database is shared by the run's tests)."""
    return f"acct-{namespace[-12:]}-{next(_accounts)}"
