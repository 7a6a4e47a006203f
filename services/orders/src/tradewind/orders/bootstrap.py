"""The orders service's wiring, in one place: pools, broker, outbox relay, consumers, expiry."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

from tradewind.common.broker import Broker, Topology
from tradewind.common.db import asyncpg_dsn, check_pool, create_pool
from tradewind.common.health import Readiness
from tradewind.common.outbox import OutboxRelay
from tradewind.common.outbox_handoff import OutboxHandoff
from tradewind.common.tasks import run_every, start_background
from tradewind.orders.adapters import OrderReads
from tradewind.orders.adapters.activities import FillActivities
from tradewind.orders.adapters.jobs import JobStore
from tradewind.orders.adapters.ledger import AccountLedgers
from tradewind.orders.adapters.trade_updates import TradeUpdates
from tradewind.orders.domain import RiskRules
from tradewind.orders.handlers import (
    SERVICE,
    DayOrderExpiry,
    InstrumentHandler,
    OrderCommandHandler,
    QuoteHandler,
    StatementJobs,
    orders_subscriptions,
)
from tradewind.orders.handlers.trade_update_retention import TradeUpdateRetention
from tradewind.orders.settings import OrdersSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OrdersRuntime:
    """What the running service holds; the API reads ``reads``, ``activities``, ``jobs``,
    ``ledgers`` and ``trade_updates`` (``api.routes``, ``api.jobs``, ``api.account``,
    ``api.trade_updates``), tests and tools publish and listen through ``broker`` and
    ``topology``."""

    settings: OrdersSettings
    topology: Topology
    broker: Broker
    reads: OrderReads
    activities: FillActivities
    jobs: JobStore
    ledgers: AccountLedgers
    trade_updates: TradeUpdates


@asynccontextmanager
async def bootstrap(settings: OrdersSettings, readiness: Readiness) -> AsyncIterator[OrdersRuntime]:
    """Open the pools and the broker, start the relay, the consumers and the expiry sweep; on
    exit stop the sweep, stop consuming and finish what was taken, flush the outbox, then close
    everything in reverse."""
    shared = settings.shared
    topology = Topology(shared.namespace, tuple(shared.retry_delays_ms))
    async with AsyncExitStack() as resources:
        # Two pools: the write path (consumers, relay, sweep) and the read API. A write path
        # busy at full load must never make a read or the readiness probe wait.
        writes = await create_pool(
            settings.database_url,
            max_size=settings.database_pool_size,
            # The write path runs a few fixed statements thousands of times a second. Left to
            # choose, PostgreSQL kept planning them anew at each execution once the book was
            # large (custom plans looked cheaper than the generic one): measured at 100,000
            # resting orders, a quote's candidates statement took 0.8 ms instead of 0.2 and
            # its write 0.7 instead of 0.3. Their generic plans use the same indexes, at
            # 0.25 and 0.5 ms whatever the size of the book.
            server_settings={"plan_cache_mode": "force_generic_plan"},
        )
        resources.push_async_callback(writes.close)
        reads = await create_pool(settings.database_url, max_size=settings.api_pool_size)
        resources.push_async_callback(reads.close)

        broker = Broker.from_settings(shared, service=SERVICE)
        resources.push_async_callback(broker.close)
        await broker.connect()

        relay = OutboxRelay(
            pool=writes, broker=broker, listen_dsn=asyncpg_dsn(settings.database_url)
        )
        relay.start(resources, "orders-outbox-relay", grace_s=shared.shutdown_grace_s)
        handoff: OutboxHandoff | None = None
        if settings.outbox_handoff_lease_s > 0:
            handoff = OutboxHandoff(
                pool=writes, broker=broker, lease_s=settings.outbox_handoff_lease_s
            )
            handoff.start(resources, "orders-outbox-handoff", grace_s=shared.shutdown_grace_s)

        rules = RiskRules(
            reference_prices=settings.reference_prices,
            max_notional=settings.max_notional,
            market_buy_margin=settings.market_buy_margin,
        )
        commands = OrderCommandHandler(
            pool=writes,
            rules=rules,
            topology=topology,
            max_quote_age=timedelta(seconds=settings.arrival_quote_max_age_s),
            initial_cash=settings.initial_cash,
            handoff=handoff,
        )
        quotes = QuoteHandler(
            pool=writes,
            topology=topology,
            concurrency=settings.quote_concurrency,
            initial_cash=settings.initial_cash,
            handoff=handoff,
        )
        statement_jobs = StatementJobs(
            store=JobStore(writes),
            activities=FillActivities(writes),
            topology=topology,
            max_attempts=shared.max_delivery_attempts,
            chunk_rows=settings.statement_chunk_rows,
        )
        subscriptions = orders_subscriptions(
            InstrumentHandler(pool=writes),
            commands,
            quotes,
            statement_jobs,
            max_batch=settings.command_batch_size,
            max_wait_s=settings.command_batch_wait_s,
        )
        await subscriptions.start(broker)
        # First to run on exit (but for the expiry sweep): take no more messages and finish the
        # batch in hand, so that the relay's last pass publishes everything it committed.
        resources.push_async_callback(broker.stop_consuming)

        expiry = DayOrderExpiry(
            pool=writes,
            topology=topology,
            calendar=shared.market_calendar(),
            initial_cash=settings.initial_cash,
        )
        start_background(
            resources,
            run_every(settings.expiry_sweep_interval_s, "day-order-expiry", expiry.expire_due),
            "orders-day-order-expiry",
        )

        retention = TradeUpdateRetention(TradeUpdates(writes), settings.trade_updates_retained)
        start_background(
            resources,
            run_every(
                settings.trade_updates_prune_interval_s, "trade-update-retention", retention.prune
            ),
            "orders-trade-update-retention",
        )

        readiness.add("postgres", lambda: check_pool(reads))
        readiness.add("broker", broker.check)
        log.info(
            "orders service started",
            extra={
                "namespace": topology.namespace,
                "market_timezone": shared.market_timezone,
            },
        )
        yield OrdersRuntime(
            settings=settings,
            topology=topology,
            broker=broker,
            reads=OrderReads(reads),
            activities=FillActivities(reads),
            jobs=JobStore(reads),
            # On the API's pool: a deposit is one short transaction on one ledger row.
            ledgers=AccountLedgers(reads, initial_cash=settings.initial_cash),
            trade_updates=TradeUpdates(reads),
        )
