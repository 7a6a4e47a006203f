"""The orders database of this test run (migrated once), a pool on it, and the handlers.

The default symbols are listed once, as market-data's instrument.listed events would; a test that
feeds quotes lists a symbol of its own, so that no other test's orders or sequences share it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from integration.orders.flows import ARRIVAL_QUOTE_AGE, LOT_SIZE, Desk
from support.infra import Infra
from support.internal import INTERNAL_HEADERS
from support.system import TEST_INITIAL_CASH
from tradewind.common.broker import Topology
from tradewind.common.contracts import Instrument
from tradewind.common.contracts.types import utc_now
from tradewind.common.db import create_pool
from tradewind.common.migrations import upgrade_database
from tradewind.common.settings import SharedSettings
from tradewind.orders.adapters import OrderReads, OrdersUnitOfWork
from tradewind.orders.adapters.activities import FillActivities
from tradewind.orders.adapters.jobs import JobStore
from tradewind.orders.app import SERVICE_DIR, create_app
from tradewind.orders.domain import RiskRules
from tradewind.orders.handlers import (
    InstrumentHandler,
    OrderCommandHandler,
    QuoteHandler,
    StatementJobs,
)
from tradewind.orders.settings import DEFAULT_REFERENCE_PRICES, OrdersSettings


@pytest.fixture(scope="session")
async def orders_database_url(infra: Infra) -> str:
    url = await infra.create_database("orders")
    await asyncio.to_thread(upgrade_database, SERVICE_DIR, url)
    pool = await create_pool(url, max_size=1)
    try:
        async with OrdersUnitOfWork.begin(pool) as unit:
            for symbol in DEFAULT_REFERENCE_PRICES:
                await unit.record_listing(
                    Instrument(
                        symbol=symbol, name=symbol, tick_size=Decimal("0.01"), lot_size=LOT_SIZE
                    ),
                    listed_at=utc_now(),
                )
    finally:
        await pool.close()
    return url


@pytest.fixture(scope="session")
async def orders_pool(orders_database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(orders_database_url, max_size=8)
    yield pool
    await pool.close()


@pytest.fixture(scope="session")
def orders_reads(orders_pool: asyncpg.Pool) -> OrderReads:
    return OrderReads(orders_pool)


@pytest.fixture(scope="session")
def orders_rules() -> RiskRules:
    return RiskRules(
        reference_prices=DEFAULT_REFERENCE_PRICES, max_notional=OrdersSettings().max_notional
    )


@pytest.fixture(scope="session")
def orders_topology(infra: Infra) -> Topology:
    return Topology(infra.namespace)


@pytest.fixture
def orders_handler(
    orders_pool: asyncpg.Pool, orders_rules: RiskRules, orders_topology: Topology
) -> OrderCommandHandler:
    return OrderCommandHandler(
        pool=orders_pool,
        rules=orders_rules,
        topology=orders_topology,
        max_quote_age=ARRIVAL_QUOTE_AGE,
        initial_cash=Decimal(TEST_INITIAL_CASH),
    )


@pytest.fixture
def quote_handler(orders_pool: asyncpg.Pool, orders_topology: Topology) -> QuoteHandler:
    return QuoteHandler(
        pool=orders_pool, topology=orders_topology, initial_cash=Decimal(TEST_INITIAL_CASH)
    )


@pytest.fixture
def statement_jobs(orders_pool: asyncpg.Pool, orders_topology: Topology) -> StatementJobs:
    return StatementJobs(
        store=JobStore(orders_pool),
        activities=FillActivities(orders_pool),
        topology=orders_topology,
        max_attempts=2,
        chunk_rows=100,
    )


@pytest.fixture
def instrument_handler(orders_pool: asyncpg.Pool) -> InstrumentHandler:
    return InstrumentHandler(pool=orders_pool)


@pytest.fixture(scope="module")
async def orders_app(infra: Infra, orders_database_url: str) -> AsyncIterator[FastAPI]:
    """The whole service (database, broker consumer, outbox relay, API) on this run's infra."""
    settings = OrdersSettings(
        database_url=orders_database_url,
        initial_cash=Decimal(TEST_INITIAL_CASH),
        shared=SharedSettings(namespace=infra.namespace, amqp_url=infra.amqp_url, log_json=False),
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def orders_client(orders_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=orders_app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://orders", headers=INTERNAL_HEADERS
    ) as client:
        yield client


@pytest.fixture
async def desk(
    orders_handler: OrderCommandHandler,
    quote_handler: QuoteHandler,
    instrument_handler: InstrumentHandler,
    orders_pool: asyncpg.Pool,
) -> Desk:
    """A symbol of this test's own, listed, traded through the real handlers."""
    desk = Desk(orders_handler, quote_handler, instrument_handler, orders_pool)
    await desk.list()
    return desk
