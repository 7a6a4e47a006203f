"""The market-data service's wiring, in one place: database, Redis, broker, the quote pipeline and
the background loops, and what they hold open."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tradewind.common.broker import Broker, Topology
from tradewind.common.contracts import Instrument
from tradewind.common.contracts.types import utc_now
from tradewind.common.db import asyncpg_dsn, create_pool
from tradewind.common.health import Readiness
from tradewind.common.outbox import OutboxRelay
from tradewind.common.sql import check_database, create_engine, instrument_engine, session_factory
from tradewind.common.tasks import start_background
from tradewind.market_data.adapters.bar_writer import BarWriter
from tradewind.market_data.adapters.latest import LatestQuotes
from tradewind.market_data.adapters.replay import ReplayFeed, load_recording
from tradewind.market_data.adapters.simulator import QuoteSimulator, SimulatorFeed
from tradewind.market_data.domain.feed_supervisor import FeedSupervisor
from tradewind.market_data.handlers.announcer import InstrumentAnnouncer
from tradewind.market_data.handlers.feed_chain import FeedChain
from tradewind.market_data.handlers.quote_pipeline import QuotePipeline
from tradewind.market_data.settings import MarketDataSettings

log = logging.getLogger(__name__)

SERVICE = "market-data"


@dataclass(frozen=True)
class MarketDataRuntime:
    """What the running service holds; the API reads it (``api.routes``), and so do tests."""

    settings: MarketDataSettings
    instruments: Mapping[str, Instrument]
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    broker: Broker
    topology: Topology
    latest: LatestQuotes
    bar_writer: BarWriter
    pipeline: QuotePipeline
    feeds: FeedChain
    announcer: InstrumentAnnouncer


@asynccontextmanager
async def bootstrap(
    settings: MarketDataSettings, readiness: Readiness
) -> AsyncIterator[MarketDataRuntime]:
    """Open the database, Redis and the broker, start the relay, bar writer, announcer and the
    quote feeds (simulator, replay); stop and close all on exit, in reverse order."""
    shared = settings.shared
    topology = Topology(shared.namespace, tuple(shared.retry_delays_ms))
    instruments = {instrument.symbol: instrument for instrument in settings.instruments}
    async with AsyncExitStack() as resources:
        engine = create_engine(settings.database_url)
        resources.push_async_callback(engine.dispose)
        instrument_engine(engine)
        sessions = session_factory(engine)

        redis = Redis.from_url(
            shared.redis_url,
            decode_responses=True,
            socket_timeout=settings.redis_timeout_s,
            socket_connect_timeout=settings.redis_timeout_s,
            # One immediate retry replaces a pooled connection Redis closed; more would only
            # delay the fallback to memory.
            retry=Retry(NoBackoff(), 1),
        )
        resources.push_async_callback(redis.aclose)
        latest = LatestQuotes(
            redis,
            namespace=shared.namespace,
            retry_interval_s=settings.redis_retry_interval_s,
        )

        broker = Broker.from_settings(shared, service=SERVICE)
        resources.push_async_callback(broker.close)
        await broker.connect()

        # The outbox relay runs on plain asyncpg (libs/common); two connections are plenty.
        relay_pool = await create_pool(settings.database_url, min_size=1, max_size=2)
        resources.push_async_callback(relay_pool.close)
        relay = OutboxRelay(
            pool=relay_pool, broker=broker, listen_dsn=asyncpg_dsn(settings.database_url)
        )
        relay.start(resources, "market-data-outbox-relay", grace_s=shared.shutdown_grace_s)

        bar_writer = BarWriter(
            sessions,
            flush_interval_s=settings.bar_flush_interval_s,
            flush_max_quotes=settings.bar_flush_max_quotes,
            buffer_limit=settings.bar_buffer_limit,
            dedupe_retention=timedelta(seconds=settings.quote_dedupe_retention_s),
            clock=utc_now,
        )
        # Registered before the loop so it runs after the loop is cancelled: the last quotes
        # reach the bars on a clean shutdown.
        resources.push_async_callback(_final_flush, bar_writer)
        start_background(resources, bar_writer.run(), "market-data-bar-writer")

        pipeline = QuotePipeline(
            instruments=instruments,
            latest=latest,
            broker=broker,
            bars=bar_writer,
            clock=utc_now,
            max_future_skew=timedelta(seconds=settings.max_future_skew_s),
        )

        announcer = InstrumentAnnouncer(
            sessions=sessions,
            exchange=topology.events,
            instruments=settings.instruments,
            interval_s=settings.instrument_announce_interval_s,
        )
        start_background(resources, announcer.run(), "market-data-instrument-announcer")

        feeds = _start_feeds(settings, pipeline, resources)

        readiness.add("postgres", lambda: check_database(engine))
        readiness.add("broker", broker.check)
        readiness.add("redis", latest.check)
        for provider in feeds.chain:
            readiness.add(f"feed.{provider}", feeds.readiness_check(provider))
        log.info(
            "market-data service started",
            extra={
                "namespace": topology.namespace,
                "instruments": list(instruments),
                "simulator_enabled": settings.simulator_runs(),
                "providers": list(feeds.chain),
            },
        )
        yield MarketDataRuntime(
            settings=settings,
            instruments=instruments,
            engine=engine,
            sessions=sessions,
            broker=broker,
            topology=topology,
            latest=latest,
            bar_writer=bar_writer,
            pipeline=pipeline,
            feeds=feeds,
            announcer=announcer,
        )


def _start_feeds(
    settings: MarketDataSettings, pipeline: QuotePipeline, resources: AsyncExitStack
) -> FeedChain:
    """The feed chain and the feeds that run inside the service (the simulator, the replay);
    HTTP ingest offers its batches from the API."""
    policy = settings.failover_policy()
    supervisor = None if policy is None else FeedSupervisor(policy, now=time.monotonic())
    feeds = FeedChain(pipeline, supervisor, monotonic=time.monotonic, clock=utc_now)
    if supervisor is not None:
        start_background(resources, feeds.report_health(), "market-data-feed-health")
    if settings.simulator_runs():
        seed = settings.simulator_seed
        if seed is None:
            seed = secrets.randbelow(2**31)
        simulator = QuoteSimulator(
            settings.simulated_instruments(),
            seed=seed,
            start_prices=settings.simulator_start_prices,
        )
        simulator_feed = SimulatorFeed(
            simulator,
            lambda quotes: feeds.offer("simulator", quotes),
            rate_hz=settings.simulator_rate_hz,
            clock=utc_now,
        )
        start_background(resources, simulator_feed.run(), "market-data-simulator")
    if "replay" in feeds.chain and settings.replay_file is not None:
        recording = load_recording(
            settings.replay_file, [instrument.symbol for instrument in settings.instruments]
        )
        replay = ReplayFeed(
            recording,
            lambda quotes: feeds.offer("replay", quotes),
            speed=settings.replay_speed,
            clock=utc_now,
        )
        start_background(resources, replay.run(), "market-data-replay")
    return feeds


async def _final_flush(bar_writer: BarWriter) -> None:
    try:
        await bar_writer.flush()
    except Exception as exc:
        log.error(
            "last bar write failed; buffered quotes are lost from the bars",
            extra={"pending_quotes": bar_writer.pending, "error": repr(exc)},
        )
