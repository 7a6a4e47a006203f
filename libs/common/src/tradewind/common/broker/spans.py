"""Producer and consumer spans of the broker client, and the trace context in AMQP headers.

The broker client makes its own spans (OpenTelemetry messaging conventions) instead of the aio-pika
instrumentation's: it knows the queue, the attempt and the CloudEvent type, it can open one span
per message of a batch, and it can skip the span objects entirely when nothing records them.
Without a span, the trace context still travels: the producer's context is injected as it is, and
the consumer continues it, so trace ids reach every event, row and log line either way.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

from tradewind.common.tracing import spans_recorded

tracer = trace.get_tracer("tradewind.broker")

SYSTEM = {"messaging.system": "rabbitmq"}


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
        f"{exchange} publish",
        kind=trace.SpanKind.PRODUCER,
        attributes={
            **SYSTEM,
            "messaging.operation.type": "publish",
            "messaging.destination.name": exchange,
            "messaging.rabbitmq.destination.routing_key": routing_key,
            "messaging.message.id": message_id,
        },
    ):
        propagate.inject(headers)
        yield


@contextlib.contextmanager
def consuming(
    queue: str, headers: Mapping[str, Any], attributes: Mapping[str, Any]
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
        f"{queue} process",
        context=parent,
        kind=trace.SpanKind.CONSUMER,
        attributes={
            **SYSTEM,
            "messaging.operation.type": "process",
            "messaging.destination.name": queue,
            **attributes,
        },
    ) as span:
        yield span
