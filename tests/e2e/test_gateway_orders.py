"""POST /api/v1/orders exactly as a client and an outside consumer see it.

The gateway's hot path is tuned for CPU; these tests pin what it must keep doing: the 202 body
and headers, the pending view, the command on the broker (envelope, AMQP properties, trace
context), the request metrics, and the problems for a key that is missing a scope.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import datetime

import aio_pika
import httpx
import pytest
from redis.asyncio import Redis

from e2e.harness import System, auth
from support.polling import eventually
from tradewind.common.envelope import CloudEvent

pytestmark = pytest.mark.e2e

ORDER_FIELDS_UNSET_WHILE_PENDING = (
    "filled_avg_price",
    "accepted_at",
    "rejected_at",
    "canceled_at",
    "filled_at",
    "expired_at",
    "replaced_at",
    "stop_triggered_at",
    "replaces",
    "replaced_by",
    "reject_reason",
    "parent_id",
    "legs",
    "hwm",
)


@pytest.fixture
async def place_commands(
    system: System,
) -> AsyncIterator[list[aio_pika.abc.AbstractIncomingMessage]]:
    """Every orders.place command published while the test runs, with its AMQP properties."""
    received: list[aio_pika.abc.AbstractIncomingMessage] = []
    connection = await aio_pika.connect(system.infra.amqp_url)
    channel = await connection.channel()
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(f"{system.namespace}.commands", "orders.place")

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with message.process():
            received.append(message)

    await queue.consume(on_message)
    try:
        yield received
    finally:
        await connection.close()


def _metric(text: str, name: str, labels: str) -> float:
    match = re.search(rf"^{re.escape(name)}\{{{re.escape(labels)}\}} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


async def test_a_placed_order_is_answered_with_its_pending_view_and_published_as_one_traced_command(
    client: httpx.AsyncClient,
    system: System,
    api_keys: dict[str, str],
    place_commands: list[aio_pika.abc.AbstractIncomingMessage],
) -> None:
    request_id = f"gw-{uuid.uuid4().hex}"
    client_order_id = f"pin-{uuid.uuid4().hex[:8]}"
    response = await client.post(
        "/api/v1/orders",
        json={
            "symbol": "aapl",
            "side": "buy",
            "type": "limit",
            "qty": "10",
            "limit_price": "150.25",
            "client_order_id": client_order_id,
        },
        headers={
            **auth(api_keys["alice"]),
            "X-Request-ID": request_id,
            "traceparent": f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01",
        },
    )
    # What the request really carried: an httpx instrumentation in this process may have replaced
    # our header with its own client span's context.
    trace_id = response.request.headers["traceparent"].split("-")[1]

    assert response.status_code == 202, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-request-id"] == request_id
    order = response.json()
    order_id = order["id"]
    assert response.headers["location"] == f"/api/v1/orders/{order_id}"
    submitted_at = order["submitted_at"]
    assert datetime.fromisoformat(submitted_at).utcoffset() is not None
    assert order == {
        "id": str(uuid.UUID(order_id)),
        "client_order_id": client_order_id,
        "symbol": "AAPL",
        "side": "buy",
        "type": "limit",
        "qty": "10",
        "notional": None,
        "limit_price": "150.25",
        "stop_price": None,
        "trail_price": None,
        "trail_percent": None,
        "time_in_force": "day",
        "status": "pending_new",
        "filled_qty": "0",
        "submitted_at": submitted_at,
        "created_at": submitted_at,
        "updated_at": submitted_at,
        "order_class": "simple",
        **dict.fromkeys(ORDER_FIELDS_UNSET_WHILE_PENDING),
    }

    redis = Redis.from_url(system.infra.redis_url)
    try:
        pending = await redis.get(f"{system.namespace}:pending-order:alice:{order_id}")
    finally:
        await redis.aclose()
    assert pending is not None
    assert json.loads(pending) == order

    messages = await eventually(
        lambda: asyncio.sleep(0, place_commands), message="orders.place not published"
    )
    assert len(messages) == 1
    message = messages[0]
    command = CloudEvent.from_json(message.body)
    assert message.routing_key == "orders.place"
    assert message.type == "orders.place"
    assert message.content_type == "application/cloudevents+json"
    assert message.message_id == command.id
    assert message.correlation_id == request_id
    assert message.app_id == "gateway"
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert message.timestamp is not None
    assert str((message.headers or {})["traceparent"]).split("-")[1] == trace_id
    assert command.specversion == "1.0"
    assert command.source == "/tradewind/gateway"
    assert command.type == "orders.place"
    assert command.subject == order_id
    assert command.accountid == "alice"
    assert command.correlationid == request_id
    assert command.datacontenttype == "application/json"
    assert command.data == {
        "order_id": order_id,
        "account_id": "alice",
        "symbol": "AAPL",
        "side": "buy",
        "type": "limit",
        "qty": "10",
        "notional": None,
        "limit_price": "150.25",
        "stop_price": None,
        "trail_price": None,
        "trail_percent": None,
        "time_in_force": "day",
        "client_order_id": client_order_id,
        "submitted_at": submitted_at,
        "order_class": "simple",
        "take_profit": None,
        "stop_loss": None,
    }


async def test_each_placed_order_counts_once_in_the_request_metrics(
    client: httpx.AsyncClient, api_keys: dict[str, str]
) -> None:
    labels = 'method="POST",route="/api/v1/orders",status="202"'
    before = (await client.get("/metrics")).text
    response = await client.post(
        "/api/v1/orders",
        json={"symbol": "MSFT", "side": "sell", "type": "market", "qty": "1"},
        headers=auth(api_keys["alice"]),
    )
    assert response.status_code == 202
    after = (await client.get("/metrics")).text
    assert _metric(after, "tradewind_http_requests_total", labels) == (
        _metric(before, "tradewind_http_requests_total", labels) + 1
    )
    latency = 'method="POST",route="/api/v1/orders"'
    assert _metric(after, "tradewind_http_request_seconds_count", latency) == (
        _metric(before, "tradewind_http_request_seconds_count", latency) + 1
    )


async def test_a_key_without_the_write_scope_is_a_403_problem_and_publishes_nothing(
    client: httpx.AsyncClient,
    system: System,
    place_commands: list[aio_pika.abc.AbstractIncomingMessage],
    api_keys: dict[str, str],
) -> None:
    reader = await system.create_key("alice", frozenset({"orders:read"}))
    response = await client.post(
        "/api/v1/orders",
        json={"symbol": "AAPL", "side": "buy", "type": "market", "qty": "1"},
        headers={**auth(reader.secret), "X-Request-ID": "no-scope-1"},
    )
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-request-id"] == "no-scope-1"
    assert response.json() == {
        "type": "urn:tradewind:problem:forbidden",
        "title": "Forbidden",
        "status": 403,
        "detail": "This API key lacks the `orders:write` scope.",
        "instance": "/api/v1/orders",
        "request_id": "no-scope-1",
    }
    # A valid order afterwards is the sentinel: commands arrive in publish order.
    sentinel = await client.post(
        "/api/v1/orders",
        json={"symbol": "AAPL", "side": "buy", "type": "market", "qty": "1"},
        headers=auth(api_keys["alice"]),
    )
    await eventually(lambda: asyncio.sleep(0, place_commands))
    assert [CloudEvent.from_json(m.body).subject for m in place_commands] == [sentinel.json()["id"]]
