"""The webhooks service's wiring, in one place: the pools, the event intake, the dispatcher, and
what they hold open."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from tradewind.common.broker import Broker, QueueSpec, Topology
from tradewind.common.broker.catalog import WEBHOOKS_EVENTS
from tradewind.common.db import asyncpg_dsn, check_pool, create_pool
from tradewind.common.health import Readiness
from tradewind.common.migrations import upgrade_database_once
from tradewind.common.outbox import OutboxRelay
from tradewind.common.resilience import CONNECT, retry_async
from tradewind.common.tasks import start_background
from tradewind.webhooks.adapters.backlog import sample_backlog
from tradewind.webhooks.adapters.bindings import EventBindings
from tradewind.webhooks.adapters.reads import WebhookReads
from tradewind.webhooks.adapters.secret_box import SecretBox
from tradewind.webhooks.adapters.sender import Sender
from tradewind.webhooks.domain.delivery_rules import BreakerPolicy
from tradewind.webhooks.handlers.dispatcher import Dispatcher, DispatchPolicy
from tradewind.webhooks.handlers.outcomes import OutcomePolicy, OutcomeRecorder
from tradewind.webhooks.handlers.use_cases import EndpointService, EventIntake
from tradewind.webhooks.settings import WebhooksSettings

log = logging.getLogger(__name__)

SERVICE = "webhooks"
SERVICE_DIR = Path(__file__).resolve().parents[3]
_MIGRATION_LOCK_KEY = 0x7457_6D69_6772  # "tWmigr"
_DATABASE_DOWN = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)


@dataclass(frozen=True)
class WebhooksRuntime:
    """What the running service holds; the API reads it (``api.routes``)."""

    settings: WebhooksSettings
    topology: Topology
    # One style, plain asyncpg (adapters.unit_of_work), on two pools: the hot path's (intake,
    # claims, successes, the outbox relay) and the API's (with failed attempts' records).
    pool: asyncpg.Pool
    api_pool: asyncpg.Pool
    broker: Broker
    sender: Sender
    secret_box: SecretBox
    reads: WebhookReads
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
        # The API (and the rare failure path, which waits on endpoint row locks) on a pool of
        # its own, so a burst of API calls never takes the intake's and the claims' connections.
        api_pool = await retry_async(
            CONNECT,
            lambda: create_pool(url, min_size=1, max_size=2 * settings.api_pool_size),
            retry_on=_DATABASE_DOWN,
            name="connect to the database",
        )
        resources.push_async_callback(api_pool.close)
        pool = await retry_async(
            CONNECT,
            lambda: create_pool(url, min_size=2, max_size=settings.db_pool_size + 3),
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
        reads = WebhookReads(api_pool)
        listen_dsn = asyncpg_dsn(settings.database_url)
        relay = OutboxRelay(pool=pool, broker=broker, listen_dsn=listen_dsn)
        dispatcher = Dispatcher(
            pool=pool,
            sender=sender,
            recorder=OutcomeRecorder(
                pool=pool,
                failures_pool=api_pool,
                events_exchange=topology.events,
                policy=outcome_policy(settings),
            ),
            policy=dispatch_policy(settings),
            listen_dsn=listen_dsn,
            secret_box=secret_box,
        )
        bindings = EventBindings(
            api_pool, broker, queue=events_queue(topology), exchange=topology.events
        )
        endpoint_service = EndpointService(
            api_pool,
            reads,
            bindings,
            policy=settings.destination_policy,
            rotation_overlap=settings.secret_rotation_overlap,
            max_endpoints_per_account=settings.max_endpoints_per_account,
            max_payload_bytes=settings.max_payload_bytes,
            secret_box=secret_box,
        )
        readiness.add("database", lambda: check_pool(api_pool))
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
            pool,
            consumer=events_queue(topology).name,
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
            api_pool=api_pool,
            broker=broker,
            sender=sender,
            secret_box=secret_box,
            reads=reads,
            bindings=bindings,
            endpoint_service=endpoint_service,
            intake=intake,
            relay=relay,
            dispatcher=dispatcher,
        )
