"""Deleting a test namespace's queues and exchanges when the test that made it is done with it.

Every queue lives until it is deleted, and the run's vhost is deleted only when the run ends.
RabbitMQ gives each durable queue (a quorum queue above all) a share of its file-handle budget,
which on the shared local broker is 927 handles; a run that kept every test's queues to its end
spent nearly all of it, after which the broker accepts a connection only when another closes.
So each fixture that makes a namespace of its own deletes its queues once nothing uses them.

The names are those the code declares (``tradewind.common.broker``): the shared queues of
``Topology``, every consumed queue of the catalog with its parking lot, and the test's own
queues (named through a ``RecordingTopology``, or deleted by whoever declared them). AMQP cannot
list queues, and rabbitmqctl takes about a second a call on a busy machine; deleting by name
takes one connection and a round trip per name, and RabbitMQ answers the deletion of a queue or
exchange that does not exist with a plain ok.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import aio_pika

from tradewind.common.broker import QueueSpec, Topology
from tradewind.common.broker.catalog import CONSUMED_QUEUES

log = logging.getLogger(__name__)

# Long enough for a busy broker to delete a few dozen queues, short enough that a broker which
# does not answer costs a teardown little of the test's timeout.
DELETE_TIMEOUT_S = 30.0
# The tiers of a client made with ``Topology(namespace)``, as several tests' publishers are.
DEFAULT_RETRY_DELAYS_MS = tuple(Topology("").retry_delays_ms)


@dataclass(frozen=True)
class RecordingTopology(Topology):
    """A ``Topology`` that remembers each queue name it made: the queues a test names through
    it (``queue_name("test", …)``) are deleted with the namespace's own."""

    named: set[str] = field(default_factory=set, compare=False, hash=False, repr=False)

    def queue_name(self, service: str, purpose: str) -> str:
        name = super().queue_name(service, purpose)
        self.named.add(name)
        return name


def namespace_queues(topology: Topology) -> list[str]:
    """Every durable queue the code declares in ``topology``'s namespace, and those a
    ``RecordingTopology`` named.

    Wait queues are named after their delay: those of ``topology``'s delays and the default
    ones. Each consuming queue comes with its parking lot (deleting one that was never declared
    is harmless).
    """
    delays = dict.fromkeys((*topology.retry_delays_ms, *DEFAULT_RETRY_DELAYS_MS))
    consuming = dict.fromkeys(queue.name(topology) for queue in CONSUMED_QUEUES)
    if isinstance(topology, RecordingTopology):
        consuming.update(dict.fromkeys(sorted(topology.named)))
    return [
        topology.unrouted_events,
        *(topology.wait_queue(delay) for delay in delays),
        *(name for queue in consuming for name in (queue, QueueSpec(queue).parking_lot)),
    ]


async def delete_namespace(amqp_url: str, topology: Topology) -> None:
    """Delete the queues of ``namespace_queues`` and the namespace's exchanges.

    Call it once everything that used the namespace has stopped: a service still running would
    lose its queues under it.
    """
    await delete_queues(
        amqp_url,
        namespace_queues(topology),
        exchanges=[name for name, _ in topology.exchanges()],
        owner=f"namespace {topology.namespace}",
    )


async def delete_queues(
    amqp_url: str, queues: Iterable[str], *, exchanges: Iterable[str] = (), owner: str
) -> None:
    """Delete ``queues``, then ``exchanges``, over one connection.

    A failure is logged, never raised: the test has passed or failed on its own by then, and
    whatever is left goes with the run's vhost. ``owner`` names them in that warning.
    """
    try:
        async with asyncio.timeout(DELETE_TIMEOUT_S):
            connection = await aio_pika.connect(amqp_url)
            async with connection:
                channel = await connection.channel()
                for queue in queues:
                    # A quorum queue refuses the if-unused and if-empty flags.
                    await channel.queue_delete(queue, if_unused=False, if_empty=False)
                for exchange in exchanges:
                    await channel.exchange_delete(exchange)
    except Exception as exc:
        log.warning("the queues of %s were not deleted (the run's vhost ends them): %r", owner, exc)


async def delete_namespace_of(env: Mapping[str, str]) -> None:
    """``delete_namespace`` for the processes started with ``env``: their namespace, broker and
    delay tiers, as ``TRADEWIND_*`` settings."""
    namespace = env["TRADEWIND_NAMESPACE"]
    delays = env.get("TRADEWIND_RETRY_DELAYS_MS")
    topology = Topology(namespace, tuple(json.loads(delays))) if delays else Topology(namespace)
    await delete_namespace(env["TRADEWIND_AMQP_URL"], topology)
