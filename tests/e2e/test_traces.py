"""Traces as an operator sees them, checked by an OTLP receiver of the test's own.

The system runs in a namespace and databases of its own, exporting spans (OTLP/HTTP, protobuf)
to ``support.otlp_receiver``; the session's system exports nothing, so the other tests pay no
span costs. One order is placed through the gateway and filled by a quote ingested by
market-data: the order's trace runs unbroken from the gateway's POST to the orders consumer and
the relay's publish, and the fill, in the quote's trace, links back to the order's trace.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
import pytest
from opentelemetry.instrumentation.utils import suppress_instrumentation

from e2e.harness import MAX_ATTEMPTS, RETRY_DELAYS_MS, System, auth
from support.infra import Infra
from support.internal import INTERNAL_HEADERS
from support.namespace_cleanup import delete_namespace_of
from support.otlp_receiver import OtlpReceiver, ReceivedSpan
from support.polling import eventually
from support.system import SystemPorts, create_system_databases, start_system, system_env

pytestmark = pytest.mark.e2e

T = TypeVar("T")

TRACING = {
    # Export every span soon after it ends (the default waits 5 s between batches), whatever
    # the caller's environment says about the SDK or sampling.
    "OTEL_BSP_SCHEDULE_DELAY": "200",
    "OTEL_SDK_DISABLED": "false",
    "OTEL_TRACES_SAMPLER": "parentbased_always_on",
}


@dataclass(frozen=True)
class TracedSystem:
    system: System
    receiver: OtlpReceiver


@pytest.fixture
async def traced(infra: Infra) -> AsyncIterator[TracedSystem]:
    receiver = await OtlpReceiver().start()
    databases = await create_system_databases(infra, prefix="traces_")
    ports = SystemPorts.free()
    env = system_env(
        infra,
        namespace=f"{infra.namespace}-traces",
        databases=databases,
        ports=ports,
        retry_delays_ms=RETRY_DELAYS_MS,
        max_delivery_attempts=MAX_ATTEMPTS,
        overrides={"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, **TRACING},
    )
    try:
        processes = await start_system(env, ports, name_prefix="traces-")
        try:
            yield TracedSystem(
                System(
                    infra,
                    env,
                    processes.orders,
                    processes.gateway,
                    processes.market_data,
                    processes.webhooks,
                ),
                receiver,
            )
        finally:
            # Off the event loop: the receiver must answer the services' last exports.
            await asyncio.to_thread(processes.stop)
    finally:
        await receiver.stop()
        # The processes are stopped, here or by start_system when it failed.
        await delete_namespace_of(env)


async def test_an_order_is_one_trace_and_its_fill_links_back_to_it(traced: TracedSystem) -> None:
    system, receiver = traced.system, traced.receiver
    # This process may have its own tracing installed by an earlier test (a dropping sampler
    # and the httpx instrumentation): its requests would carry an unsampled traceparent, and
    # the services would record nothing of them. A client of the API sends none here.
    with suppress_instrumentation():
        order_id = await _place_and_fill(system)
    namespace = system.namespace
    order_trace = await _holds(lambda: _order_trace(receiver.spans, order_id, namespace), receiver)
    fill = await _holds(
        lambda: _fill_trace(receiver.spans, order_id, namespace, order_trace), receiver
    )
    assert fill.trace_id != order_trace.trace_id


async def _place_and_fill(system: System) -> str:
    """A resting limit order through the gateway, filled by a quote ingested by market-data."""
    key = (await system.create_key(f"t-{uuid.uuid4().hex[:8]}")).secret
    async with httpx.AsyncClient(base_url=system.gateway.url, timeout=10) as client:
        placed = await client.post(
            "/api/v1/orders",
            json={
                "symbol": "TSLA",
                "side": "buy",
                "type": "limit",
                "qty": "3",
                "limit_price": "250.00",
                "time_in_force": "gtc",
            },
            headers=auth(key),
        )
        assert placed.status_code == 202, placed.text
        order_id: str = placed.json()["id"]
        await _order_status(client, key, order_id, "new")
        await _ingest(system, _quote("TSLA", bid="249.00", ask="249.50"))
        await _order_status(client, key, order_id, "filled")
    return order_id


@dataclass(frozen=True)
class OrderTrace:
    trace_id: str
    accepted_by: ReceivedSpan
    """The orders consumer span that placed the order: what its fills link to."""


def _order_trace(spans: list[ReceivedSpan], order_id: str, namespace: str) -> OrderTrace:
    """The order's trace: gateway POST -> command publish -> orders consumer -> event publish,
    every span's parent in the trace (no orphans)."""
    placing = [
        s
        for s in spans
        if s.kind == "consumer" and s.attributes.get("tradewind.order_id") == order_id
    ]
    assert len(placing) == 1, f"no single consumer span placed {order_id}: {placing}"
    consumer = placing[0]
    trace = [s for s in spans if s.trace_id == consumer.trace_id]
    by_id = {s.span_id: s for s in trace}
    orphans = [s for s in trace if s.parent_span_id and s.parent_span_id not in by_id]
    assert not orphans, "spans whose parent never arrived:\n" + _dump(trace)

    roots = [s for s in trace if not s.parent_span_id]
    assert [(r.service, r.kind, r.name) for r in roots] == [
        ("gateway", "server", "POST /api/v1/orders")
    ], _dump(trace)

    command = by_id[consumer.parent_span_id]
    assert (command.service, command.kind) == ("gateway", "producer"), _dump(trace)
    assert command.name == f"publish {namespace}.commands"
    _assert_messaging(command, "publish", "send", f"{namespace}.commands", "orders.place")
    assert _ancestors(command, by_id)[-1] == roots[0]

    assert (consumer.service, consumer.name) == ("orders", f"process {namespace}.commands")
    _assert_messaging(consumer, "process", "process", f"{namespace}.commands", "orders.place")
    assert consumer.attributes["messaging.message.id"] == command.attributes["messaging.message.id"]
    assert (
        consumer.attributes["messaging.destination.subscription.name"]
        == f"{namespace}.orders.commands"
    )

    accepted = [
        s
        for s in trace
        if s.parent_span_id == consumer.span_id
        and s.attributes.get("messaging.rabbitmq.destination.routing_key") == "order.accepted"
    ]
    assert [(s.service, s.kind, s.name) for s in accepted] == [
        ("orders", "producer", f"publish {namespace}.events")
    ], _dump(trace)
    _assert_messaging(accepted[0], "publish", "send", f"{namespace}.events", "order.accepted")
    return OrderTrace(consumer.trace_id, consumer)


def _fill_trace(
    spans: list[ReceivedSpan], order_id: str, namespace: str, order: OrderTrace
) -> ReceivedSpan:
    """The fill: a span in the quote's trace, under the quote's consumer span, linked to the
    span that placed the order; the fill event's publish below it."""
    fills = [
        s
        for s in spans
        if s.name == "order fill" and s.attributes["tradewind.order_id"] == order_id
    ]
    assert len(fills) == 1, f"no single fill span of {order_id}: {fills}"
    fill = fills[0]
    trace = [s for s in spans if s.trace_id == fill.trace_id]
    by_id = {s.span_id: s for s in trace}
    assert [(link.trace_id, link.span_id) for link in fill.links] == [
        (order.trace_id, order.accepted_by.span_id)
    ]

    quote = by_id[fill.parent_span_id]
    assert (quote.service, quote.kind, quote.name) == (
        "orders",
        "consumer",
        f"process {namespace}.events",
    )
    _assert_messaging(quote, "process", "process", f"{namespace}.events", "market.quote.TSLA")
    published_quote = by_id[quote.parent_span_id]
    assert (published_quote.service, published_quote.kind) == ("market-data", "producer")

    filled = [s for s in trace if s.parent_span_id == fill.span_id]
    assert [s.attributes.get("messaging.rabbitmq.destination.routing_key") for s in filled] == [
        "order.filled"
    ], _dump(trace)
    assert filled[0].kind == "producer"
    return fill


def _assert_messaging(
    span: ReceivedSpan, operation: str, operation_type: str, exchange: str, routing_key: str
) -> None:
    """The OpenTelemetry messaging conventions for RabbitMQ."""
    attributes = span.attributes
    assert attributes["messaging.system"] == "rabbitmq"
    assert attributes["messaging.operation.name"] == operation
    assert attributes["messaging.operation.type"] == operation_type
    assert attributes["messaging.destination.name"] == exchange
    assert attributes["messaging.rabbitmq.destination.routing_key"] == routing_key
    assert attributes["messaging.message.id"]


def _ancestors(span: ReceivedSpan, by_id: dict[str, ReceivedSpan]) -> list[ReceivedSpan]:
    chain = []
    while span.parent_span_id:
        span = by_id[span.parent_span_id]
        chain.append(span)
    return chain


def _dump(spans: list[ReceivedSpan]) -> str:
    return "\n".join(str(span) for span in spans)


async def _holds(check: Callable[[], T], receiver: OtlpReceiver, timeout: float = 30.0) -> T:
    """``check``'s result once its assertions hold: spans arrive in batches, in any order, so
    a check fails until the last span it needs has come. Fails with the last failure and every
    span received."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except (AssertionError, KeyError) as exc:
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"{exc!r} within {timeout}s; spans received:\n{_dump(receiver.spans)}"
                ) from exc
        await asyncio.sleep(0.1)


async def _order_status(client: httpx.AsyncClient, key: str, order_id: str, status: str) -> None:
    async def reached() -> bool:
        response = await client.get(f"/api/v1/orders/{order_id}", headers=auth(key))
        return response.status_code == 200 and response.json()["status"] == status

    await eventually(reached, timeout=20, interval=0.05, message=f"order never {status}")


def _quote(symbol: str, *, bid: str, ask: str) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "bid_price": bid,
        "bid_size": "100",
        "ask_price": ask,
        "ask_size": "100",
        "timestamp": datetime.now(UTC).isoformat(),
    }


async def _ingest(system: System, *quotes: dict[str, Any]) -> None:
    async with httpx.AsyncClient(
        base_url=system.market_data.url, timeout=10, headers=INTERNAL_HEADERS
    ) as market:
        response = await market.post("/internal/v1/quotes:batch", json={"quotes": list(quotes)})
    assert response.status_code in (200, 202), response.text
