"""Test doubles for webhook tests: a partner's receiver on loopback, order events, a service."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
from aiohttp import web
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from support.internal import INTERNAL_HEADERS
from support.namespace_cleanup import delete_queues
from support.polling import eventually
from tradewind.common.broker import Binding, Broker, Delivery, QueueSpec, Topology
from tradewind.common.contracts import OrderAccepted, OrderSnapshot, Quote, quote_routing_key
from tradewind.common.contracts.types import OrderStatus, OrderType, Side, TimeInForce
from tradewind.common.envelope import CloudEvent, new_event
from tradewind.common.settings import SharedSettings
from tradewind.webhooks.adapters.records import Endpoint
from tradewind.webhooks.adapters.unit_of_work import WebhooksUnitOfWork
from tradewind.webhooks.app import create_app
from tradewind.webhooks.settings import WebhooksSettings

# --- a partner's receiver ---


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic()

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]


# (the request, how many earlier requests on this path carried the same webhook-id) -> response
Behaviour = Callable[[Received, int], Awaitable[web.StreamResponse]]


async def ok(_received: Received, _earlier: int) -> web.StreamResponse:
    return web.Response(text="ok")


def fail_times(failures: int, status: int = 500) -> Behaviour:
    async def behaviour(_received: Received, earlier: int) -> web.StreamResponse:
        if earlier < failures:
            return web.Response(status=status, text=f"failure {earlier + 1}")
        return web.Response(text="ok")

    return behaviour


def always(status: int, headers: dict[str, str] | None = None, body: str = "") -> Behaviour:
    async def behaviour(_received: Received, _earlier: int) -> web.StreamResponse:
        return web.Response(status=status, headers=headers, text=body)

    return behaviour


class Receiver:
    """An aiohttp server on 127.0.0.1 that records every request and answers per path."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.behaviours: dict[str, Behaviour] = {}
        self.port = 0
        self._release = asyncio.Event()
        self._runner: web.AppRunner | None = None

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host="127.0.0.1", port=0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self

    async def stop(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}/{path}"

    def on(self, path: str, behaviour: Behaviour) -> None:
        self.behaviours[path] = behaviour

    async def hang(self, _received: Received, _earlier: int) -> web.StreamResponse:
        """A behaviour: answer only when the test ends (the sender must time out first)."""
        await self._release.wait()
        return web.Response(text="too late")

    def at(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]

    def successes(self, path: str) -> list[Received]:
        return [r for r in self.at(path) if r.headers.get("x-test-answered") == "2xx"]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["path"]
        received = Received(path, dict(request.headers), await request.read(), time.monotonic())
        earlier = sum(
            1 for r in self.requests if r.path == path and r.webhook_id == received.webhook_id
        )
        self.requests.append(received)
        response = await self.behaviours.get(path, ok)(received, earlier)
        if 200 <= response.status < 300:
            received.headers["x-test-answered"] = "2xx"
        return response


# --- events as the orders service publishes them ---


def order_accepted(account_id: str, *, symbol: str = "AAPL") -> CloudEvent:
    now = datetime.now(UTC)
    order_id = uuid.uuid4()
    snapshot = OrderSnapshot(
        id=order_id,
        account_id=account_id,
        client_order_id=None,
        symbol=symbol,
        side=Side.BUY,
        type=OrderType.LIMIT,
        qty=Decimal("10"),
        limit_price=Decimal("190.5"),
        time_in_force=TimeInForce.DAY,
        status=OrderStatus.NEW,
        filled_qty=Decimal("0"),
        submitted_at=now,
        created_at=now,
        updated_at=now,
        accepted_at=now,
        version=2,
    )
    return new_event(
        source="/orders",
        data=OrderAccepted(order=snapshot),
        event_type=OrderAccepted.TYPE,
        subject=str(order_id),
        account_id=account_id,
    )


def market_quote(symbol: str) -> CloudEvent:
    """A quote as market-data publishes it: routing key ``market.quote.<symbol>``, no account."""
    quote = Quote(
        symbol=symbol,
        bid_price=Decimal("100"),
        bid_size=Decimal("5"),
        ask_price=Decimal("100.5"),
        ask_size=Decimal("5"),
        timestamp=datetime.now(UTC),
        sequence=1,
    )
    return new_event(source="/market-data", data=quote, event_type=Quote.TYPE)


# --- the service under test ---

_names = itertools.count(1)
# The broker's delay tiers in the tests' namespaces: short, so that retries come soon.
RETRY_DELAYS_MS = (50, 100, 200)


def test_settings(database_url: str, amqp_url: str, namespace: str, **overrides: Any) -> Any:
    values: dict[str, Any] = {
        "database_url": database_url,
        "migrate_on_start": False,
        "retry_schedule": "200ms,400ms,800ms",
        "request_timeout_s": 2.0,
        "allow_subnets": ["127.0.0.0/8"],
        "https_only": False,
        "dispatch_poll_interval_s": 0.2,
        "delivery_lease": timedelta(seconds=5),
        "breaker_failure_threshold": 50,
        "shared": SharedSettings(
            namespace=namespace,
            amqp_url=amqp_url,
            retry_delays_ms=list(RETRY_DELAYS_MS),
            shutdown_grace_s=0.5,
            log_json=False,
            log_level="WARNING",
        ),
    }
    values.update(overrides)
    return WebhooksSettings(**values)


@dataclass
class Service:
    settings: WebhooksSettings
    api: httpx.AsyncClient
    broker: Broker
    engine: AsyncEngine
    collected: list[CloudEvent] = field(default_factory=list)

    async def create_endpoint(self, account_id: str, url: str, **body: Any) -> dict[str, Any]:
        response = await self.api.post(
            f"/internal/v1/accounts/{account_id}/webhooks/endpoints", json={"url": url, **body}
        )
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    async def publish(self, event: CloudEvent) -> None:
        await self.broker.publish_event(event)

    async def publish_quote(self, quote: CloudEvent) -> None:
        symbol = quote.data["symbol"]
        await self.broker.publish_event(quote, routing_key=quote_routing_key(symbol))

    async def update_endpoint(
        self, account_id: str, endpoint_id: str, **changes: Any
    ) -> dict[str, Any]:
        response = await self.api.patch(
            f"/internal/v1/accounts/{account_id}/webhooks/endpoints/{endpoint_id}", json=changes
        )
        assert response.status_code == 200, response.text
        updated: dict[str, Any] = response.json()
        return updated

    async def delete_endpoint(self, account_id: str, endpoint_id: str) -> None:
        response = await self.api.delete(
            f"/internal/v1/accounts/{account_id}/webhooks/endpoints/{endpoint_id}"
        )
        assert response.status_code == 204, response.text

    async def recorded_bindings(self) -> set[str]:
        async with self.engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT pattern FROM event_bindings")  # test-only inspection
            )
            return {row.pattern for row in rows}

    async def attempts(self, account_id: str, endpoint_id: str) -> list[dict[str, Any]]:
        response = await self.api.get(
            f"/internal/v1/accounts/{account_id}/webhooks/endpoints/{endpoint_id}/attempts",
            params={"limit": 200},
        )
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return list(reversed(items))

    async def deliveries(self) -> list[dict[str, Any]]:
        async with self.engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT * FROM deliveries ORDER BY id")  # test-only inspection
            )
            return [dict(row._mapping) for row in rows]

    async def wait_for_event(self, event_type: str, timeout: float = 10.0) -> CloudEvent:
        async def found() -> CloudEvent | None:
            return next((e for e in self.collected if e.type == event_type), None)

        return await eventually(found, timeout=timeout, message=f"no {event_type} event")


@asynccontextmanager
async def running_service(settings: WebhooksSettings) -> AsyncIterator[Service]:
    """The app through its lifespan, its API over ASGI, a publisher and a webhook.* collector."""
    app = create_app(settings)
    topology = Topology(settings.shared.namespace, settings.shared.retry_delays_ms)
    broker = Broker(settings.shared.amqp_url, topology, service="test-publisher")
    engine = create_async_engine(settings.database_url)
    async with app.router.lifespan_context(app):
        await broker.connect()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://webhooks", headers=INTERNAL_HEADERS
        ) as api:
            service = Service(settings, api, broker, engine)

            async def collect(event: CloudEvent, _delivery: Delivery) -> None:
                service.collected.append(event)

            # Numbered: two services of one namespace (one test) each collect every event.
            collector = QueueSpec(
                topology.queue_name("test", f"collector{next(_names)}"),
                bindings=[Binding(topology.events, "webhook.#")],
            )
            await broker.consume(collector, collect)
            try:
                yield service
            finally:
                await broker.close()
                await engine.dispose()
                # Only this publisher consumed it; the namespace's own queues are the
                # namespace fixture's to delete, once every service of the test has stopped.
                await delete_queues(
                    settings.shared.amqp_url,
                    [collector.name, collector.parking_lot],
                    owner=f"collector {collector.name}",
                )


async def new_endpoint(pool: asyncpg.Pool, account_id: str, filters: list[str]) -> Endpoint:
    async with WebhooksUnitOfWork.begin(pool) as unit:
        return await unit.create_endpoint(
            endpoint_id=f"ep_{account_id}",
            account_id=account_id,
            url="http://127.0.0.1:9/hook",
            description="",
            event_types=filters,
            enabled=True,
            secret="whsec_dGVzdA==",
            limit=20,
        )


async def delete_endpoint(pool: asyncpg.Pool, endpoint_id: str, account_id: str) -> None:
    async with WebhooksUnitOfWork.begin(pool) as unit:
        await unit.delete_endpoint(endpoint_id, account_id)
