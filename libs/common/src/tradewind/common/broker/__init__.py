"""RabbitMQ client over aio-pika: topology, confirmed publishing, consuming with retry and park."""

from tradewind.common.broker.batches import BatchHandler, BatchOutcome, Incoming
from tradewind.common.broker.client import Broker, Delivery, Handler, Outgoing
from tradewind.common.broker.errors import (
    BrokerUnavailable,
    Deferred,
    PermanentFailure,
    PublishRejected,
    PublishUnconfirmed,
)
from tradewind.common.broker.subscriptions import (
    MessageBus,
    MessageHandlers,
    QueueBinder,
    Subscriptions,
    declared_types,
    handles,
    queue_spec,
)
from tradewind.common.broker.topology import Binding, QueueSpec, Topology

__all__ = [
    "BatchHandler",
    "BatchOutcome",
    "Binding",
    "Broker",
    "BrokerUnavailable",
    "Deferred",
    "Delivery",
    "Handler",
    "Incoming",
    "MessageBus",
    "MessageHandlers",
    "Outgoing",
    "PermanentFailure",
    "PublishRejected",
    "PublishUnconfirmed",
    "QueueBinder",
    "QueueSpec",
    "Subscriptions",
    "Topology",
    "declared_types",
    "handles",
    "queue_spec",
]
