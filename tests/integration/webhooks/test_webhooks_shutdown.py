"""Shutting the webhooks service down with an attempt in flight: it stops consuming first, lets the
attempt finish, records its outcome and publishes the event that outcome wrote, then closes."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
import httpx
from aiohttp import web

from integration.webhooks import harness
from integration.webhooks.harness import Received, Receiver, order_accepted
from support.infra import Infra
from support.internal import INTERNAL_HEADERS
from support.polling import eventually
from support.runtime import runtime_in
from tradewind.common.db import asyncpg_dsn
from tradewind.common.settings import SharedSettings
from tradewind.webhooks.app import create_app
from tradewind.webhooks.bootstrap import WebhooksRuntime


async def test_an_attempt_in_flight_finishes_and_its_outcome_is_published_before_exit(
    infra: Infra, database_url: str, namespace: str, receiver: Receiver
) -> None:
    release = asyncio.Event()

    async def gone_when_released(_received: Received, _earlier: int) -> web.StreamResponse:
        await release.wait()
        return web.Response(status=410, text="gone")  # disables the endpoint: an event

    receiver.on("held", gone_when_released)
    shared = SharedSettings(
        namespace=namespace,
        amqp_url=infra.amqp_url,
        retry_delays_ms=list(harness.RETRY_DELAYS_MS),
        shutdown_grace_s=60,
        log_json=False,
        log_level="WARNING",
    )
    settings = harness.test_settings(database_url, infra.amqp_url, namespace, shared=shared)
    app = create_app(settings)
    lifespan = contextlib.AsyncExitStack()
    await lifespan.enter_async_context(app.router.lifespan_context(app))
    try:
        runtime = runtime_in(app, WebhooksRuntime)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://webhooks",
            headers=INTERNAL_HEADERS,
        ) as api:
            created = await api.post(
                "/internal/v1/accounts/acc-1/webhooks/endpoints",
                json={"url": receiver.url("held")},
            )
            assert created.status_code == 201, created.text
        await runtime.broker.publish_event(order_accepted("acc-1"))
        await eventually(lambda: asyncio.sleep(0, receiver.at("held")), message="not sent")

        stopping = asyncio.create_task(lifespan.aclose())
        await eventually(
            lambda: asyncio.sleep(0, not runtime.broker.consuming), message="still consuming"
        )
        assert not stopping.done(), "the shutdown did not wait for the attempt in flight"
        release.set()
        await eventually(lambda: asyncio.sleep(0, stopping.done()), timeout=30)
        stopping.result()
    finally:
        release.set()
        await lifespan.aclose()

    assert len(receiver.at("held")) == 1
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        events = await connection.fetch("SELECT message_type, published_at FROM outbox")
    finally:
        await connection.close()
    assert "webhook.endpoint.disabled" in {row["message_type"] for row in events}, (
        "the attempt's outcome was not recorded"
    )
    assert all(row["published_at"] is not None for row in events), (
        "an event of the outcome was left in the outbox"
    )
