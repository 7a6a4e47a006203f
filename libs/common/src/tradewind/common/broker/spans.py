"""Producer and consumer spans of the broker client, and the trace context in AMQP headers.

The broker client makes its own spans instead of the aio-pika instrumentation's: it knows the
queue, the attempt and the CloudEvent type, it can open one span per message of a batch, and it
can skip the span objects entirely when nothing records them. Without a span, the trace context
still travels: the producer's context is injected as it is, and the consumer continues it, so
trace ids reach every event, row and log line either way.

The spans follow the OpenTelemetry messaging conventions for RabbitMQ: ``messaging.system`` is
``rabbitmq``; ``messaging.destination.name`` is the exchange (what the message was published
to, on both sides) and ``messaging.rabbitmq.destination.routing_key`` its routing key; the
operation is named (``messaging.operation.name``) and typed (``messaging.operation.type``:
``send`` for a publish, ``process`` for a pushed delivery); spans are named
``{operation name} {exchange}``; a publish is a PRODUCER span whose context travels with the
message (its creation context), a delivery a CONSUMER span that continues it. Newer releases of
the conventions compose the destination name from exchange, routing key and queue; we keep the
exchange alone (low cardinality: quotes are routed by symbol) and name the consuming queue in
``messaging.destination.subscription.name``. docs/architecture.md, "Tracing", has the table.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

from tradewind.common.tracing import spans_recorded

if TYPE_CHECKING:
    from tradewind.common.broker.client import Delivery

tracer = trace.get_tracer("tradewind.broker")

SYSTEM = "messaging.system"
OPERATION_NAME = "messaging.operation.name"
OPERATION_TYPE = "messaging.operation.type"
DESTINATION = "messaging.destination.name"
ROUTING_KEY = "messaging.rabbitmq.destination.routing_key"
SUBSCRIPTION = "messaging.destination.subscription.name"
MESSAGE_ID = "messaging.message.id"
DELIVERY_TAG = "messaging.rabbitmq.message.delivery_tag"


def span_name(operation: str, exchange: str) -> str:
    """``{operation} {destination}``; a publish to the default exchange has no destination."""
    return f"{operation} {exchange}" if exchange else operation


def publish_attributes(exchange: str, routing_key: str, message_id: str) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        SYSTEM: "rabbitmq",
        OPERATION_NAME: "publish",
        OPERATION_TYPE: "send",
        DESTINATION: exchange,
        MESSAGE_ID: message_id,
    }
    if routing_key:  # conditionally required: if not empty
        attributes[ROUTING_KEY] = routing_key
    return attributes


def process_attributes(delivery: Delivery) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        SYSTEM: "rabbitmq",
        OPERATION_NAME: "process",
        OPERATION_TYPE: "process",
        DESTINATION: delivery.exchange,
        SUBSCRIPTION: delivery.queue,
        MESSAGE_ID: delivery.message_id,
        "tradewind.attempt": delivery.attempt,
    }
    if delivery.routing_key:
        attributes[ROUTING_KEY] = delivery.routing_key
    if delivery.delivery_tag is not None:
        attributes[DELIVERY_TAG] = delivery.delivery_tag
    return attributes


@contextlib.contextmanager
def producing(
    exchange: str, routing_key: str, message_id: str, headers: MutableMapping[str, Any]
) -> Iterator[None]:
    """Publish inside a producer span (when spans are recorded) and put its context in
    ``headers``; otherwise put the current context there."""
    if not spans_recorded():
        propagate.inject(headers)
        yield
        return
    with tracer.start_as_current_span(
        span_name("publish", exchange),
        kind=trace.SpanKind.PRODUCER,
        attributes=publish_attributes(exchange, routing_key, message_id),
    ):
        propagate.inject(headers)
        yield


@contextlib.contextmanager
def consuming(
    delivery: Delivery, headers: Mapping[str, Any], attributes: Mapping[str, Any] | None = None
) -> Iterator[trace.Span]:
    """Handle a message inside a consumer span continuing the producer's trace (when spans are
    recorded); otherwise with the producer's context current."""
    parent = propagate.extract(headers)
    if not spans_recorded():
        token = otel_context.attach(parent)
        try:
            yield trace.get_current_span()
        finally:
            otel_context.detach(token)
        return
    with tracer.start_as_current_span(
        span_name("process", delivery.exchange),
        context=parent,
        kind=trace.SpanKind.CONSUMER,
        attributes={**process_attributes(delivery), **(attributes or {})},
    ) as span:
        yield span
