"""The webhooks service's wiring, in one place: the store, the event intake, the dispatcher, and
what they hold open."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tradewind.common.broker import Broker, QueueSpec, Topology
from tradewind.common.broker.catalog import WEBHOOKS_EVENTS
from tradewind.common.db import asyncpg_dsn, check_database, create_engine, session_factory
from tradewind.common.health import Readiness
from tradewind.common.migrations import upgrade_database_once
from tradewind.common.outbox import Outbox, OutboxRelay
from tradewind.common.resilience import CONNECT, retry_async
from tradewind.common.tasks import start_background
from tradewind.common.tracing import instrument_engine
from tradewind.webhooks.adapters import tables
from tradewind.webhooks.adapters.backlog import sample_backlog
from tradewind.webhooks.adapters.bindings import EventBindings
from tradewind.webhooks.adapters.intake_store import IntakeStore
from tradewind.webhooks.adapters.secret_box import SecretBox
from tradewind.webhooks.adapters.sender import Sender
from tradewind.webhooks.adapters.store import WebhookStore
from tradewind.webhooks.domain.delivery_rules import BreakerPolicy
from tradewind.webhooks.handlers.dispatcher import Dispatcher, DispatchPolicy
from tradewind.webhooks.handlers.outcomes import OutcomePolicy, OutcomeRecorder
from tradewind.webhooks.handlers.use_cases import EndpointService, EventIntake
from tradewind.webhooks.settings import WebhooksSettings

log = logging.getLogger(__name__)

SERVICE = "webhooks"
SERVICE_DIR = Path(__file__).resolve().parents[3]
_MIGRATION_LOCK_KEY = 0x7457_6D69_6772  # "tWmigr"
_DATABASE_DOWN = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, DBAPIError)


@dataclass(frozen=True)
class WebhooksRuntime:
    """What the running service holds; the API reads it (``api.routes``)."""

    settings: WebhooksSettings
    topology: Topology
    # Raw asyncpg for the hot path (intake, claims, successes); SQLAlchemy for the rest.
    pool: asyncpg.Pool
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    broker: Broker
    sender: Sender
    secret_box: SecretBox
    store: WebhookStore
    bindings: EventBindings
    endpoint_service: EndpointService
    intake: EventIntake
    relay: OutboxRelay
    dispatcher: Dispatcher


def events_queue(topology: Topology) -> QueueSpec:
    # No topic bindings of its own: they follow the endpoints' subscriptions (EventBindings).
    # Broker.declare_queue still binds it to the requeue exchange, for retries.
    # Its name comes from the shared catalog, which the health service watches.
    return QueueSpec(WEBHOOKS_EVENTS.name(topology))


async def migrate(database_url: str) -> None:
    """Apply migrations; an advisory lock keeps processes starting together from racing."""
    await upgrade_database_once(SERVICE_DIR, database_url, lock_key=_MIGRATION_LOCK_KEY)


def outcome_policy(settings: WebhooksSettings) -> OutcomePolicy:
    return OutcomePolicy(
        schedule=settings.schedule,
        breaker=BreakerPolicy(settings.breaker_failure_threshold, settings.breaker_open_for),
        disable_after=settings.disable_after,
    )


def dispatch_policy(settings: WebhooksSettings) -> DispatchPolicy:
    return DispatchPolicy(
        max_in_flight=settings.max_in_flight,
        endpoint_concurrency=settings.endpoint_concurrency,
        batch_size=settings.dispatch_batch_size,
        poll_interval_s=settings.dispatch_poll_interval_s,
        lease=settings.delivery_lease,
        retention=settings.retention,
    )


@asynccontextmanager
async def bootstrap(
    settings: WebhooksSettings, readiness: Readiness
) -> AsyncIterator[WebhooksRuntime]:
    """Migrate (when configured), open the pools and the broker, start consuming events, the
    relay and the dispatcher; on exit stop taking work first, then let attempts in flight finish,
    then close what is left."""
    shared = settings.shared
    url = settings.database_url
    async with AsyncExitStack() as resources:
        # Before anything else: without a key, secrets could be neither stored nor used.
        secret_box = SecretBox(settings.secret_keys)
        if settings.migrate_on_start:
            await retry_async(
                CONNECT, lambda: migrate(url), retry_on=_DATABASE_DOWN, name="migrate database"
            )
        # SQLAlchemy for the API, the outbox and the rare failure path; raw asyncpg for the hot
        # path (event intake, claims, recording successes), which is CPU-bound otherwise.
        # The engine connects lazily, so building it first opens nothing sooner; it puts its
        # dispose under the pool's close on the stack, so the raw pool still closes first.
        engine = create_engine(url, pool_size=settings.api_pool_size)
        resources.push_async_callback(engine.dispose)
        instrument_engine(engine)
        sessions = session_factory(engine)
        pool = await retry_async(
            CONNECT,
            lambda: asyncpg.create_pool(
                asyncpg_dsn(url), min_size=2, max_size=settings.db_pool_size + 3
            ),
            retry_on=_DATABASE_DOWN,
            name="connect to the database",
        )
        resources.push_async_callback(pool.close)
        topology = Topology(shared.namespace, shared.retry_delays_ms)
        broker = Broker.from_settings(shared, service=SERVICE)
        sender = Sender(
            settings.destination_policy,
            timeout_s=settings.request_timeout_s,
            body_limit=settings.response_body_limit,
            max_connections=settings.max_in_flight,
        )
        store = WebhookStore(sessions)
        listen_dsn = asyncpg_dsn(settings.database_url)
        relay = OutboxRelay(pool=pool, broker=broker, listen_dsn=listen_dsn)
        dispatcher = Dispatcher(
            pool=pool,
            sessions=sessions,
            sender=sender,
            recorder=OutcomeRecorder(
                pool=pool,
                sessions=sessions,
                outbox=Outbox(tables.outbox),
                events_exchange=topology.events,
                policy=outcome_policy(settings),
            ),
            policy=dispatch_policy(settings),
            listen_dsn=listen_dsn,
            secret_box=secret_box,
        )
        bindings = EventBindings(
            store, broker, queue=events_queue(topology), exchange=topology.events
        )
        endpoint_service = EndpointService(
            store,
            bindings,
            policy=settings.destination_policy,
            rotation_overlap=settings.secret_rotation_overlap,
            max_endpoints_per_account=settings.max_endpoints_per_account,
            max_payload_bytes=settings.max_payload_bytes,
            secret_box=secret_box,
        )
        readiness.add("database", lambda: check_database(engine))
        readiness.add("broker", broker.check)

        # The stack unwinds in reverse, so on exit: stop reconciling bindings, stop consuming
        # (events in flight finish), stop claiming, let attempts in flight finish and record
        # their outcomes, flush the outbox those outcomes wrote to, then close the broker,
        # the sender and the pools.
        grace_s = shared.shutdown_grace_s
        resources.push_async_callback(sender.close)
        await sender.start()
        resources.push_async_callback(broker.close)
        await broker.connect()
        relay.start(resources, "webhooks-outbox-relay", grace_s=grace_s)
        resources.push_async_callback(dispatcher.drain, grace_s)
        start_background(resources, dispatcher.run(), "webhooks-dispatcher")
        intake = EventIntake(
            IntakeStore(pool, consumer=events_queue(topology).name),
            max_payload_bytes=settings.max_payload_bytes,
            concurrency=settings.db_pool_size,
        )
        await broker.consume(events_queue(topology), intake)
        resources.push_async_callback(broker.stop_consuming)
        await bindings.reconcile(rebind_all=True)
        start_background(
            resources,
            bindings.keep_reconciled(settings.bindings_reconcile_interval_s),
            "webhooks-event-bindings",
        )
        start_background(
            resources,
            sample_backlog(pool, settings.backlog_sample_interval_s),
            "webhooks-backlog-gauges",
        )
        log.info("webhooks service started", extra={"namespace": shared.namespace})
        yield WebhooksRuntime(
            settings=settings,
            topology=topology,
            pool=pool,
            engine=engine,
            sessions=sessions,
            broker=broker,
            sender=sender,
            secret_box=secret_box,
            store=store,
            bindings=bindings,
            endpoint_service=endpoint_service,
            intake=intake,
            relay=relay,
            dispatcher=dispatcher,
        )
