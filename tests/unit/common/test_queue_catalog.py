"""The shared queue catalog the health service watches is every service's own declarations.

Services never import each other, so the health service learns which queues to watch from
``tradewind.common.broker.catalog``; these tests hold that list to what the services really
declare, so a queue added to a service and not to the catalog fails here.
"""

from __future__ import annotations

from tradewind.common.broker import MessageHandlers, Topology
from tradewind.common.broker.catalog import CONSUMED_QUEUES, consumed_queues
from tradewind.orders.handlers.commands import OrderCommandHandler
from tradewind.orders.handlers.instruments import InstrumentHandler
from tradewind.orders.handlers.jobs import StatementJobs
from tradewind.orders.handlers.quotes import QuoteHandler
from tradewind.orders.handlers.subscriptions import orders_subscriptions
from tradewind.webhooks.bootstrap import events_queue

TOPOLOGY = Topology("acme")


def _declared_orders_queues() -> set[str]:
    # Only the handlers' declared message types matter here, not their dependencies.
    instruments = object.__new__(InstrumentHandler)
    instruments.handle = MessageHandlers.of(instruments)
    quotes = object.__new__(QuoteHandler)
    quotes.handle = MessageHandlers.of(quotes)
    commands = object.__new__(OrderCommandHandler)
    statement_jobs = object.__new__(StatementJobs)
    subscriptions = orders_subscriptions(
        instruments, commands, quotes, statement_jobs, max_batch=8, max_wait_s=0.01
    )
    return {spec.name for spec in subscriptions.queues(TOPOLOGY)}


def test_the_catalog_lists_exactly_the_queues_orders_consumes() -> None:
    listed = {queue.name(TOPOLOGY) for queue in consumed_queues("orders")}

    assert listed == _declared_orders_queues()
    assert listed == {
        "acme.orders.instruments",
        "acme.orders.commands",
        "acme.orders.quotes",
        "acme.orders.jobs",
    }


def test_the_catalog_lists_the_queue_webhooks_consumes() -> None:
    assert [queue.name(TOPOLOGY) for queue in consumed_queues("webhooks")] == [
        events_queue(TOPOLOGY).name
    ]


def test_services_that_only_publish_have_no_queues() -> None:
    assert consumed_queues("market-data") == ()
    assert consumed_queues("gateway") == ()  # its stream queues are per process, not listed
    assert {queue.service for queue in CONSUMED_QUEUES} == {"orders", "webhooks"}


def test_a_queue_and_its_parking_lot_are_named_as_the_broker_declares_them() -> None:
    commands = next(q for q in consumed_queues("orders") if q.purpose == "commands")

    assert commands.name(TOPOLOGY) == "acme.orders.commands"
    assert commands.parking_lot(TOPOLOGY) == "acme.orders.commands.parked"
