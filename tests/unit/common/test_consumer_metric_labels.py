"""The `queue` label of the consumer metrics stays bounded.

The gateway's stream queue is named per process (`<ns>.gateway.stream.<random>`); labelled with
that name, every restart would add series to tradewind_messages_consumed_total and
tradewind_message_handler_seconds. Its QueueSpec carries a fixed label instead, and the broker
labels what it consumes with it. The message is a fake with what the broker reads of an aio-pika
message: no RabbitMQ is involved.
"""

from __future__ import annotations

from typing import Any, cast

from aio_pika.abc import AbstractIncomingMessage
from prometheus_client import REGISTRY
from pydantic import BaseModel

from tradewind.common.broker import Broker, Delivery, QueueSpec, Topology
from tradewind.common.envelope import CloudEvent, new_event
from tradewind.gateway.bootstrap import stream_queue_spec


class Note(BaseModel):
    n: int


class FakeMessage:
    def __init__(self, body: bytes) -> None:
        self.body = body
        self.headers: dict[str, Any] = {}
        self.message_id = "m-1"
        self.redelivered = False
        self.routing_key = "test.noted"
        self.exchange = "test.events"
        self.delivery_tag = 1
        self.acked = False

    async def ack(self) -> None:
        self.acked = True


def consumed(queue: str) -> float:
    value = REGISTRY.get_sample_value(
        "tradewind_messages_consumed_total", {"queue": queue, "outcome": "acked"}
    )
    return value or 0.0


def test_a_queue_is_labelled_by_its_name_unless_told_otherwise() -> None:
    assert QueueSpec("t.orders.commands").metrics_queue == "t.orders.commands"
    spec = QueueSpec("t.gateway.stream.0123abcd", exclusive=True, metrics_label="t.gateway.stream")
    assert spec.metrics_queue == "t.gateway.stream"


def test_every_gateway_process_labels_its_stream_queue_the_same() -> None:
    topology = Topology("acme")
    first, second = stream_queue_spec(topology), stream_queue_spec(topology)

    assert first.name != second.name  # one queue per process...
    assert first.name.startswith("acme.gateway.stream.")
    assert first.exclusive
    assert first.metrics_queue == second.metrics_queue == "acme.gateway.stream"  # ...one label


async def test_the_broker_counts_a_delivery_under_the_queue_label() -> None:
    topology = Topology("labels")
    spec = stream_queue_spec(topology)
    broker = Broker("amqp://unused.invalid/", topology, service="test")
    received: list[int] = []

    async def handler(event: CloudEvent, delivery: Delivery) -> None:
        received.append(event.data_as(Note).n)

    message = FakeMessage(
        new_event(source="/tests", data=Note(n=7), event_type="test.noted").to_json()
    )
    before = consumed("labels.gateway.stream")
    await broker._deliver(spec, handler, cast(AbstractIncomingMessage, message))

    assert received == [7]
    assert message.acked
    assert consumed("labels.gateway.stream") == before + 1
    assert consumed(spec.name) == 0.0
