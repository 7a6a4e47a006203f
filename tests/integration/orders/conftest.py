"""The orders database of this test run (migrated once), sessions on it, and the command handler."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from support.infra import Infra
from tradewind.common.broker import Topology
from tradewind.common.db import create_engine, session_factory
from tradewind.common.migrations import upgrade_database
from tradewind.common.settings import SharedSettings
from tradewind.orders.app import SERVICE_DIR, create_app
from tradewind.orders.domain import RiskRules
from tradewind.orders.handlers import OrderCommandHandler
from tradewind.orders.settings import DEFAULT_SYMBOLS, OrdersSettings


@pytest.fixture(scope="session")
async def orders_database_url(infra: Infra) -> str:
    url = await infra.create_database("orders")
    await asyncio.to_thread(upgrade_database, SERVICE_DIR, url)
    return url


@pytest.fixture(scope="session")
async def orders_engine(orders_database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(orders_database_url, pool_size=4)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def orders_sessions(orders_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(orders_engine)


@pytest.fixture(scope="session")
def orders_rules() -> RiskRules:
    return RiskRules(symbols=DEFAULT_SYMBOLS, max_notional=OrdersSettings().max_notional)


@pytest.fixture(scope="session")
def orders_topology(infra: Infra) -> Topology:
    return Topology(infra.namespace)


@pytest.fixture
def orders_handler(
    orders_sessions: async_sessionmaker[AsyncSession],
    orders_rules: RiskRules,
    orders_topology: Topology,
) -> OrderCommandHandler:
    return OrderCommandHandler(
        sessions=orders_sessions, rules=orders_rules, topology=orders_topology
    )


@pytest.fixture(scope="module")
async def orders_app(infra: Infra, orders_database_url: str) -> AsyncIterator[FastAPI]:
    """The whole service (database, broker consumer, outbox relay, API) on this run's infra."""
    settings = OrdersSettings(
        database_url=orders_database_url,
        shared=SharedSettings(namespace=infra.namespace, amqp_url=infra.amqp_url, log_json=False),
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def orders_client(orders_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=orders_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://orders") as client:
        yield client
