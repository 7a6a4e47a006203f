"""RabbitMQ client over aio-pika: topology, confirmed publishing, consuming with retry and park."""

from tradewind.common.broker.client import Broker, Delivery, Handler
from tradewind.common.broker.errors import BrokerUnavailable, PermanentFailure, PublishRejected
from tradewind.common.broker.topology import Binding, QueueSpec, Topology

__all__ = [
    "Binding",
    "Broker",
    "BrokerUnavailable",
    "Delivery",
    "Handler",
    "PermanentFailure",
    "PublishRejected",
    "QueueSpec",
    "Topology",
]
