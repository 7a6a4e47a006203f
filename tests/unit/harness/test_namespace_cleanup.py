"""The names a test namespace's cleanup deletes: every queue the code declares in it."""

from __future__ import annotations

from support.namespace_cleanup import RecordingTopology, namespace_queues
from tradewind.common.broker import QueueSpec, Topology
from tradewind.common.broker.catalog import CONSUMED_QUEUES


def test_the_shared_queues_every_consumed_queue_and_their_parking_lots_are_named() -> None:
    topology = Topology("acme", (50, 100))

    names = set(namespace_queues(topology))

    assert topology.unrouted_events in names
    for queue in CONSUMED_QUEUES:
        assert {queue.name(topology), queue.parking_lot(topology)} <= names
    # The default tiers too: a client made with Topology(namespace) declares those.
    tiers = (50, 100, *Topology("acme").retry_delays_ms)
    assert {topology.wait_queue(delay) for delay in tiers} <= names
    assert all(name.startswith("acme.") for name in names)


def test_queues_named_through_a_recording_topology_are_named_with_their_parking_lots() -> None:
    topology = RecordingTopology("acme")
    worker = QueueSpec(topology.queue_name("test", "worker"))

    names = namespace_queues(topology)

    assert worker.name in names
    assert worker.parking_lot in names
    assert len(names) == len(set(names))
