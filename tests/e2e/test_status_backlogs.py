"""The health service watching a real orders and webhooks service: queues filling while orders is
cut off from the broker and draining when it is back, its outbox lagging meanwhile, a parked
message counted, and the page as headless Chromium renders it.

Its own small system (namespace, databases, processes): orders reaches RabbitMQ through a TCP
proxy the tests cut, which would disturb the session's shared system. The health service reads
queues with passive declares (the test broker has no management plugin) every 0.5 s.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import asyncpg
import httpx
import pytest
from pydantic import BaseModel

from support.chromium import artifacts_dir, dump_dom, screenshot
from support.commands import command_message
from support.infra import Infra
from support.namespace_cleanup import delete_namespace_of
from support.polling import eventually
from support.services import ServiceProcess, free_port
from support.system import SystemDatabases, SystemPorts, plain_dsn, system_env
from support.tcp_proxy import TcpProxy
from tradewind.common.contracts import PlaceOrder
from tradewind.common.contracts.types import OrderType, Side
from tradewind.common.envelope import new_event
from tradewind.common.migrations import upgrade_database
from tradewind.common.outbox import outbox_message
from tradewind.orders.app import SERVICE_DIR as ORDERS_DIR
from tradewind.webhooks.bootstrap import SERVICE_DIR as WEBHOOKS_DIR

pytestmark = pytest.mark.e2e

Report = dict[str, Any]
TIMEOUT_S = 45.0  # a reconnect is up to 5 s (aio-pika); generous for a busy machine


@dataclass
class Watched:
    infra: Infra
    namespace: str
    orders_database_url: str
    proxy: TcpProxy
    health: ServiceProcess

    def queue_name(self, service: str, purpose: str) -> str:
        return f"{self.namespace}.{service}.{purpose}"

    async def report(self) -> Report:
        async with httpx.AsyncClient(timeout=10) as http:
            response = await http.get(f"{self.health.url}/api/v1/status")
        assert response.status_code == 200
        body: Report = response.json()
        return body

    async def until(self, wanted: Callable[[Report], bool], message: str) -> Report:
        async def matching() -> Report | None:
            report = await self.report()
            return report if wanted(report) else None

        return await eventually(matching, timeout=TIMEOUT_S, interval=0.2, message=message)


def queue_of(report: Report, name: str) -> dict[str, Any]:
    for service in report["services"].values():
        for queue in service["queues"]:
            if queue["name"] == name:
                return dict(queue)
    raise AssertionError(f"{name} is not on the status report")


async def _migrated(infra: Infra, name: str, service_dir: Any) -> str:
    url = await infra.create_database(name)
    await asyncio.to_thread(upgrade_database, service_dir, url)
    return url


@pytest.fixture(scope="module")
async def watched(infra: Infra) -> AsyncIterator[Watched]:
    namespace = f"{infra.namespace}-status"
    orders_db = await _migrated(infra, "status_orders", ORDERS_DIR)
    webhooks_db = await _migrated(infra, "status_webhooks", WEBHOOKS_DIR)
    ports = SystemPorts(orders=free_port(), market_data=0, webhooks=free_port(), gateway=0)
    env = system_env(
        infra,
        namespace=namespace,
        databases=SystemDatabases(orders_db, "", webhooks_db, ""),
        ports=ports,
        retry_delays_ms=[100, 200, 400],
        max_delivery_attempts=4,
    )
    amqp = urlsplit(infra.amqp_url)
    proxy = await TcpProxy(amqp.hostname or "127.0.0.1", amqp.port or 5672).start()
    proxied = urlunsplit(
        amqp._replace(netloc=f"{amqp.username}:{amqp.password}@127.0.0.1:{proxy.port}")
    )
    orders = ServiceProcess(
        "status-orders", "tradewind.orders", ports.orders, {**env, "TRADEWIND_AMQP_URL": proxied}
    )
    webhooks = ServiceProcess(
        "status-webhooks",
        "tradewind.webhooks",
        ports.webhooks,
        {**env, "TRADEWIND_WEBHOOKS_BACKLOG_SAMPLE_INTERVAL_S": "0.5"},
    )
    health_port = free_port()
    health = ServiceProcess(
        "status-health",
        "tradewind.health",
        health_port,
        {
            **env,
            "TRADEWIND_HEALTH_PORT": str(health_port),
            "TRADEWIND_HEALTH_SERVICES": json.dumps(
                {"orders": orders.url, "webhooks": webhooks.url}
            ),
            "TRADEWIND_HEALTH_POSTGRES_DSNS": json.dumps({"postgresql": infra.postgres_admin_url}),
            "TRADEWIND_HEALTH_POLL_INTERVAL_S": "0.5",
            # Exercise the "keeps growing" rule: from 2 s, long before the limit.
            "TRADEWIND_HEALTH_OUTBOX_GROWING_FROM_S": "2",
            "TRADEWIND_HEALTH_OUTBOX_LAG_LIMIT_S": "600",
        },
    )
    started = [orders, webhooks, health]
    try:
        orders.start()
        webhooks.start()
        await asyncio.gather(orders.wait_ready(), webhooks.wait_ready())
        await health.start().wait_ready()
        yield Watched(infra, namespace, orders_db, proxy, health)
    finally:
        # In a thread: orders' last words to the broker (basic.cancel) pass through the proxy,
        # which runs on this event loop; a blocking stop would starve it until the kill.
        for process in reversed(started):
            await asyncio.to_thread(process.stop)
        await proxy.stop()
        await delete_namespace_of(env)


async def publish_commands(infra: Infra, namespace: str, messages: list[aio_pika.Message]) -> None:
    """Straight to the broker (not through the proxy), as the gateway would."""
    connection = await aio_pika.connect(infra.amqp_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(f"{namespace}.commands")
        for message in messages:
            await exchange.publish(message, routing_key=message.type or "")


def place_order() -> aio_pika.Message:
    command = PlaceOrder(
        order_id=uuid.uuid4(),
        account_id="status",
        symbol="AAPL",
        side=Side.BUY,
        type=OrderType.MARKET,
        qty="1",  # type: ignore[arg-type]
        submitted_at=datetime.now(UTC),
    )
    return command_message(
        new_event(source="/tests", data=command, event_type=command.TYPE, account_id="status")
    )


class Noted(BaseModel):
    n: int


async def commit_outbox_row(watched: Watched) -> None:
    """A row as a handler's transaction writes it (the relay must publish it)."""
    event = new_event(source="/tests", data=Noted(n=1), event_type="test.noted")
    message = outbox_message(event, exchange=f"{watched.namespace}.events")
    connection = await asyncpg.connect(plain_dsn(watched.orders_database_url))
    try:
        await connection.execute(
            "INSERT INTO outbox (message_id, message_type, exchange, routing_key, body, headers)"
            " VALUES ($1, $2, $3, $4, $5, $6::jsonb)",
            *message.sql_params(),
        )
    finally:
        await connection.close()


async def test_while_orders_is_cut_off_its_queue_fills_and_its_outbox_lags_then_both_recover(
    watched: Watched,
) -> None:
    commands = watched.queue_name("orders", "commands")

    def orders(report: Report) -> dict[str, Any]:
        return dict(report["services"]["orders"])

    await watched.until(
        lambda r: queue_of(r, commands)["consumers"] >= 1 and orders(r)["outbox"] is not None,
        "orders never showed as consuming, with an outbox",
    )

    watched.proxy.cut()
    await watched.until(
        lambda r: queue_of(r, commands)["consumers"] == 0, "the cut consumer was still counted"
    )
    await publish_commands(watched.infra, watched.namespace, [place_order() for _ in range(5)])
    await commit_outbox_row(watched)

    filled = await watched.until(
        lambda r: queue_of(r, commands)["ready"] == 5, "the queue never showed 5 waiting"
    )
    assert queue_of(filled, commands)["status"] == "no_consumer"
    assert f"no consumer on {commands}, 5 waiting" in orders(filled)["reasons"]
    lagging = await watched.until(
        lambda r: orders(r)["outbox"]["backlog"] >= 1 and orders(r)["outbox"]["lag_s"] > 0,
        "the unpublished row never showed",
    )
    first_lag = orders(lagging)["outbox"]["lag_s"]
    growing = await watched.until(
        lambda r: orders(r)["outbox"]["lag_s"] >= first_lag + 2 and orders(r)["outbox"]["behind"],
        "the outbox lag never grew",
    )
    assert any(reason.startswith("outbox lag growing") for reason in orders(growing)["reasons"])

    watched.proxy.restore()
    drained = await watched.until(
        lambda r: queue_of(r, commands)["ready"] == 0 and queue_of(r, commands)["consumers"] >= 1,
        "the queue never drained",
    )
    assert queue_of(drained, commands)["status"] == "ok"
    recovered = await watched.until(
        lambda r: orders(r)["outbox"]["backlog"] == 0 and orders(r)["status"] == "up",
        "the outbox never caught up",
    )
    assert orders(recovered)["outbox"]["lag_s"] < 2
    assert orders(recovered)["reasons"] == []


async def test_a_parked_message_raises_the_parked_count_without_degrading(
    watched: Watched,
) -> None:
    commands = watched.queue_name("orders", "commands")
    before = await watched.until(
        lambda r: queue_of(r, commands)["parked"] is not None, "the parking lot was never read"
    )
    parked_before = queue_of(before, commands)["parked"]

    poison = aio_pika.Message(
        b"not a CloudEvent", message_id=str(uuid.uuid4()), type=PlaceOrder.TYPE
    )
    await publish_commands(watched.infra, watched.namespace, [poison])

    after = await watched.until(
        lambda r: queue_of(r, commands)["parked"] == parked_before + 1,
        "the parked count never rose",
    )
    orders = after["services"]["orders"]
    assert f"{parked_before + 1} parked in {commands}.parked" in orders["notes"]
    assert orders["status"] == "up"


async def test_the_status_page_renders_services_queues_and_states_in_chromium(
    watched: Watched,
) -> None:
    await watched.until(lambda r: r["services"]["orders"]["status"] == "up", "orders not up")
    page = f"{watched.health.url}/"

    dom = await dump_dom(page)
    shot = await screenshot(page, artifacts_dir() / "health-status-page.png")

    for service in ("orders", "webhooks"):
        assert f"<strong>{service}</strong>" in dom
    for name in (
        watched.queue_name("orders", "commands"),
        watched.queue_name("orders", "instruments"),
        watched.queue_name("orders", "quotes"),
        watched.queue_name("webhooks", "events"),
    ):
        assert f"<td>{name}</td>" in dom
    assert '<span class="q q-ok">consumed</span>' in dom
    assert '<span class="badge up">up</span>' in dom  # a service's state, and each dependency's
    assert "<h2>Outboxes and webhook deliveries</h2>" in dom
    assert shot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert shot.stat().st_size > 10_000  # a rendered page, not a blank one
