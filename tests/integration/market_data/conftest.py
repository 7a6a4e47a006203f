"""The market-data database of this test run (migrated once) and the service on this run's infra."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from integration.market_data.market_data_helpers import settings_for
from support.infra import Infra
from support.internal import INTERNAL_HEADERS
from tradewind.common.migrations import upgrade_database
from tradewind.common.sql import create_engine, session_factory
from tradewind.market_data.app import SERVICE_DIR, create_app


@pytest.fixture(scope="session")
async def market_data_database_url(infra: Infra) -> str:
    url = await infra.create_database("market_data")
    await asyncio.to_thread(upgrade_database, SERVICE_DIR, url)
    return url


@pytest.fixture(scope="session")
async def market_data_engine(market_data_database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(market_data_database_url, pool_size=2)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def market_data_sessions(market_data_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(market_data_engine)


@pytest.fixture(scope="module")
async def market_data_app(infra: Infra, market_data_database_url: str) -> AsyncIterator[FastAPI]:
    """The whole service (Redis, database, broker, bar writer, API), simulator off."""
    app = create_app(settings_for(infra, market_data_database_url))
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def market_data_client(market_data_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=market_data_app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://market-data", headers=INTERNAL_HEADERS
    ) as client:
        yield client
