"""Which service consumes which durable queue: one list for the services that declare the queues
and for the health service that watches them (services never import each other).

A consumed queue is ``<namespace>.<service>.<purpose>`` (``Topology.queue_name``) with its parking
lot ``<queue>.parked``; its bindings follow from the handlers that consume it
(``subscriptions.py``), so only the (service, purpose) pairs live here.
tests/unit/common/test_queue_catalog.py compares this list with every service's own declarations,
so a queue a service starts consuming without being listed here fails the build.

Per-process fan-out queues (the gateway's stream queues) are not listed: each is named after its
process, deleted with it, always has its one consumer, and has no parking lot.
"""

from __future__ import annotations

from dataclasses import dataclass

from tradewind.common.broker.topology import QueueSpec, Topology


@dataclass(frozen=True)
class ConsumedQueue:
    """A durable queue one service consumes, and its parking lot."""

    service: str
    purpose: str

    def name(self, topology: Topology) -> str:
        return topology.queue_name(self.service, self.purpose)

    def parking_lot(self, topology: Topology) -> str:
        return QueueSpec(self.name(topology)).parking_lot


ORDERS_INSTRUMENTS = ConsumedQueue("orders", "instruments")
ORDERS_COMMANDS = ConsumedQueue("orders", "commands")
ORDERS_QUOTES = ConsumedQueue("orders", "quotes")
ORDERS_JOBS = ConsumedQueue("orders", "jobs")
WEBHOOKS_EVENTS = ConsumedQueue("webhooks", "events")

CONSUMED_QUEUES: tuple[ConsumedQueue, ...] = (
    ORDERS_INSTRUMENTS,
    ORDERS_COMMANDS,
    ORDERS_QUOTES,
    ORDERS_JOBS,
    WEBHOOKS_EVENTS,
)


def consumed_queues(service: str) -> tuple[ConsumedQueue, ...]:
    """The durable queues ``service`` consumes (none for a service that only publishes)."""
    return tuple(queue for queue in CONSUMED_QUEUES if queue.service == service)
