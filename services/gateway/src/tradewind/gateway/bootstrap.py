"""The gateway's wiring, in one place: Redis, the broker, the stream hub, authentication,
admission, pending orders and the clients of the services behind it."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import aiohttp
from redis.asyncio import Redis

from tradewind.common.broker import Broker, QueueSpec, Topology
from tradewind.common.health import Readiness
from tradewind.common.internal_auth import internal_headers
from tradewind.common.market_calendar import MarketCalendar
from tradewind.common.resilience import CircuitBreaker
from tradewind.common.tasks import start_background
from tradewind.gateway.adapters.pending import PendingOrders
from tradewind.gateway.adapters.pending_jobs import PendingJobs
from tradewind.gateway.adapters.reads import MarketReads, OrderReads
from tradewind.gateway.adapters.redis_faults import FaultFlaggedPool
from tradewind.gateway.adapters.script_batches import ScriptBatches
from tradewind.gateway.adapters.stream_bindings import StreamBindings
from tradewind.gateway.adapters.stream_limits import StreamConnectionLimit
from tradewind.gateway.adapters.upstream import ServiceClient
from tradewind.gateway.api.admission import Admission
from tradewind.gateway.auth_setup import start_authentication
from tradewind.gateway.domain.auth_model import DEFAULT_SCOPES
from tradewind.gateway.domain.rate_limits import default_budgets
from tradewind.gateway.handlers.api_keys import ApiKeyStore
from tradewind.gateway.handlers.stream_hub import StreamHub
from tradewind.gateway.settings import GatewaySettings

log = logging.getLogger(__name__)

SERVICE = "gateway"


@dataclass(frozen=True)
class GatewayRuntime:
    """What the running gateway holds. The routes read it through ``api.deps`` and
    ``runtime_of``; the credential checks and the admission middleware read it from the app on
    every request (``api.auth``, ``api.admission``)."""

    settings: GatewaySettings
    redis: Redis
    broker: Broker
    stream_hub: StreamHub
    stream_connections: StreamConnectionLimit
    api_keys: ApiKeyStore
    admission: Admission
    pending_orders: PendingOrders
    orders_service: ServiceClient
    market_data_service: ServiceClient
    webhooks_service: ServiceClient
    market_calendar: MarketCalendar
    order_reads: OrderReads
    market_reads: MarketReads


def stream_queue_spec(topology: Topology) -> QueueSpec:
    """One exclusive queue per gateway process: every process sees every event it fans out. It
    is bound only while its clients subscribe (adapters.stream_bindings). Its metrics are
    labelled `<ns>.gateway.stream`, without the process's suffix, so that restarts add no series.
    """
    return QueueSpec(
        topology.queue_name(SERVICE, f"stream.{uuid.uuid4().hex[:12]}"),
        exclusive=True,
        metrics_label=topology.queue_name(SERVICE, "stream"),
    )


@asynccontextmanager
async def bootstrap(
    settings: GatewaySettings, readiness: Readiness
) -> AsyncIterator[GatewayRuntime]:
    """Open Redis, the broker and the upstream session, start authentication and the batching
    tasks; close all on exit, in reverse."""
    shared = settings.shared
    async with AsyncExitStack() as resources:
        # Blocking pool: under a burst, requests wait briefly for a connection instead of
        # failing. The client owns it (from_pool): a client given a pool by the constructor
        # leaves it open on aclose, with its connections.
        redis = Redis.from_pool(
            FaultFlaggedPool.from_url(
                shared.redis_url,
                max_connections=settings.redis_max_connections,
                timeout=2,
                socket_timeout=2,
                socket_connect_timeout=2,
            )
        )
        resources.push_async_callback(redis.aclose)
        topology = Topology(shared.namespace, shared.retry_delays_ms)
        broker = Broker.from_settings(shared, service=SERVICE)
        resources.push_async_callback(broker.close)
        await broker.connect()
        stream_queue = stream_queue_spec(topology)
        hub = StreamHub(StreamBindings(broker, stream_queue, topology.events))
        resources.push_async_callback(hub.close)
        await broker.consume(stream_queue, hub.on_event)
        # Only the services' internal APIs are called through this session: each call carries
        # the internal credential.
        http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=200),
            headers=internal_headers(shared.internal_token),
        )
        resources.push_async_callback(http.close)
        api_keys = await start_authentication(resources, settings, redis, readiness)

        async def check_redis() -> None:
            await redis.ping()

        readiness.add("broker", broker.check)
        readiness.add("redis", check_redis)
        stream_connections = StreamConnectionLimit(
            redis,
            shared.namespace,
            limit=settings.stream_max_connections_per_key,
            lease_s=settings.stream_connection_lease_s,
        )
        start_background(resources, stream_connections.keep_leases(), "stream leases")
        script_batches = ScriptBatches(redis)
        start_background(
            resources, script_batches.send_batches(), "admission scripts and pending views"
        )
        admission = Admission(
            redis,
            shared.namespace,
            default_budgets(settings),
            idempotency_ttl_s=settings.idempotency_ttl_s,
            idempotency_lock_s=settings.idempotency_lock_s,
            batches=script_batches,
        )
        # Views share the admission scripts' sender: one pipeline carries both.
        pending_orders = PendingOrders(
            redis, shared.namespace, settings.pending_order_ttl_s, batches=script_batches
        )

        def service_client(name: str, url: str) -> ServiceClient:
            # Two spellings kept as they were: the breaker's (market_data) labels its metrics and
            # the health page's breaker list; the client's (market-data) is in its problems.
            return ServiceClient(
                name.replace("_", "-"),
                url,
                http,
                CircuitBreaker(
                    name,
                    failure_threshold=settings.breaker_failure_threshold,
                    recovery_timeout=settings.breaker_recovery_s,
                ),
                attempt_timeout_s=settings.upstream_attempt_timeout_s,
                budget_s=settings.upstream_budget_s,
            )

        orders_service = service_client("orders", settings.orders_url)
        market_data_service = service_client("market_data", settings.market_data_url)
        webhooks_service = service_client("webhooks", settings.webhooks_url)
        order_reads = OrderReads(
            orders_service,
            pending_orders,
            PendingJobs(redis, shared.namespace, settings.pending_order_ttl_s),
        )
        hub.trade_update_reads = order_reads
        if settings.demo_api_key is not None:
            await api_keys.create(
                "demo", DEFAULT_SCOPES, secret=settings.demo_api_key.get_secret_value()
            )
            log.info("demo API key provisioned", extra={"account_id": "demo"})
        yield GatewayRuntime(
            settings=settings,
            redis=redis,
            broker=broker,
            stream_hub=hub,
            stream_connections=stream_connections,
            api_keys=api_keys,
            admission=admission,
            pending_orders=pending_orders,
            orders_service=orders_service,
            market_data_service=market_data_service,
            webhooks_service=webhooks_service,
            market_calendar=shared.market_calendar(),
            order_reads=order_reads,
            market_reads=MarketReads(market_data_service),
        )
