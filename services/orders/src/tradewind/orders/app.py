"""The orders service assembled from libs/common: database, broker, outbox relay, HTTP API."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from importlib.metadata import version
from pathlib import Path

from fastapi import FastAPI

from tradewind.common.app import create_service_app
from tradewind.common.broker import Binding, Broker, QueueSpec, Topology
from tradewind.common.contracts import CancelOrder, InstrumentListed, PlaceOrder, ReplaceOrder
from tradewind.common.contracts.market import QUOTE_ROUTING_PREFIX
from tradewind.common.db import asyncpg_dsn, check_database, create_engine, session_factory
from tradewind.common.health import Readiness
from tradewind.common.outbox import OutboxRelay
from tradewind.common.tasks import run_every, start_background
from tradewind.common.tracing import instrument_engine
from tradewind.orders import api
from tradewind.orders.domain import RiskRules
from tradewind.orders.expiry import DayOrderExpiry
from tradewind.orders.handlers import OrderCommandHandler
from tradewind.orders.market import InstrumentHandler, QuoteHandler
from tradewind.orders.settings import OrdersSettings
from tradewind.orders.store import outbox

log = logging.getLogger(__name__)

SERVICE = "orders"
# services/orders: where alembic.ini and migrations/ live (for upgrade_database).
SERVICE_DIR = Path(__file__).resolve().parents[3]


def command_queue(topology: Topology) -> QueueSpec:
    return QueueSpec(
        topology.queue_name(SERVICE, "commands"),
        bindings=[
            Binding(topology.commands, PlaceOrder.TYPE),
            Binding(topology.commands, CancelOrder.TYPE),
            Binding(topology.commands, ReplaceOrder.TYPE),
        ],
    )


def instrument_queue(topology: Topology) -> QueueSpec:
    return QueueSpec(
        topology.queue_name(SERVICE, "instruments"),
        bindings=[Binding(topology.events, InstrumentListed.TYPE)],
    )


def quote_queue(topology: Topology) -> QueueSpec:
    return QueueSpec(
        topology.queue_name(SERVICE, "quotes"),
        bindings=[Binding(topology.events, f"{QUOTE_ROUTING_PREFIX}*")],
    )


def create_app(settings: OrdersSettings | None = None) -> FastAPI:
    settings = settings or OrdersSettings()
    shared = settings.shared

    @asynccontextmanager
    async def lifespan(app: FastAPI, readiness: Readiness) -> AsyncIterator[None]:
        topology = Topology(shared.namespace, tuple(shared.retry_delays_ms))
        async with AsyncExitStack() as resources:
            engine = create_engine(settings.database_url, pool_size=settings.database_pool_size)
            resources.push_async_callback(engine.dispose)
            instrument_engine(engine)
            sessions = session_factory(engine)

            broker = Broker.from_settings(shared, service=SERVICE)
            resources.push_async_callback(broker.close)
            await broker.connect()

            relay = OutboxRelay(
                sessions=sessions,
                table=outbox,
                broker=broker,
                listen_dsn=asyncpg_dsn(settings.database_url),
            )
            start_background(resources, relay.run(), "orders-outbox-relay")

            rules = RiskRules(
                reference_prices=settings.reference_prices, max_notional=settings.max_notional
            )
            commands = OrderCommandHandler(sessions=sessions, rules=rules, topology=topology)
            quotes = QuoteHandler(sessions=sessions, topology=topology)
            instruments = InstrumentHandler(sessions=sessions)
            await broker.consume(instrument_queue(topology), instruments.handle)
            await broker.consume(command_queue(topology), commands.handle)
            await broker.consume(quote_queue(topology), quotes.handle)

            expiry = DayOrderExpiry(
                sessions=sessions, topology=topology, session_end=settings.session_end
            )
            for name, interval_s, work in (
                ("day-order-expiry", settings.expiry_sweep_interval_s, expiry.expire_due),
                (
                    "quote-inbox-cleanup",
                    settings.quote_inbox_retention_s / 10,
                    lambda: quotes.forget_older_than(settings.quote_inbox_retention_s),
                ),
            ):
                start_background(resources, run_every(interval_s, name, work), f"orders-{name}")

            readiness.add("postgres", lambda: check_database(engine))
            readiness.add("broker", broker.check)
            app.state.sessions = sessions
            app.state.broker = broker
            app.state.topology = topology
            log.info(
                "orders service started",
                extra={
                    "namespace": topology.namespace,
                    "session_end": settings.session_end.isoformat(),
                },
            )
            yield

    return create_service_app(
        service=SERVICE,
        title="Tradewind orders",
        version=version("tradewind-orders"),
        shared=shared,
        lifespan=lifespan,
        routers=[api.router, api.positions_router, api.instruments_router],
    )
