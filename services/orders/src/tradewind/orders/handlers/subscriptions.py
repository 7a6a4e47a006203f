"""The orders service's queues: each bound to exactly the message types its handler declares."""

from __future__ import annotations

from tradewind.common.broker import QueueSpec, Subscriptions, Topology, declared_types, queue_spec
from tradewind.common.broker.catalog import ORDERS_COMMANDS, ORDERS_INSTRUMENTS, ORDERS_QUOTES
from tradewind.orders.handlers.commands import OrderCommandHandler
from tradewind.orders.handlers.instruments import InstrumentHandler
from tradewind.orders.handlers.quotes import QuoteHandler

SERVICE = ORDERS_COMMANDS.service  # queues are named <namespace>.orders.<purpose>
# The purposes come from the shared catalog, which the health service watches.
INSTRUMENTS, COMMANDS, QUOTES = (
    ORDERS_INSTRUMENTS.purpose,
    ORDERS_COMMANDS.purpose,
    ORDERS_QUOTES.purpose,
)


def orders_subscriptions(
    instruments: InstrumentHandler,
    commands: OrderCommandHandler,
    quotes: QuoteHandler,
    *,
    max_batch: int,
    max_wait_s: float,
) -> Subscriptions:
    """What the service consumes; ``start`` it on the broker (or an in-memory one in tests)."""
    subscriptions = Subscriptions(SERVICE)
    subscriptions.consume(INSTRUMENTS, instruments.handle)
    subscriptions.consume_batches(
        COMMANDS, commands, exchange="commands", max_batch=max_batch, max_wait_s=max_wait_s
    )
    subscriptions.consume(QUOTES, quotes.handle)
    return subscriptions


def command_queue(topology: Topology) -> QueueSpec:
    return queue_spec(topology, SERVICE, COMMANDS, OrderCommandHandler.TAKES, "commands")


def instrument_queue(topology: Topology) -> QueueSpec:
    return queue_spec(topology, SERVICE, INSTRUMENTS, declared_types(InstrumentHandler))


def quote_queue(topology: Topology) -> QueueSpec:
    return queue_spec(topology, SERVICE, QUOTES, declared_types(QuoteHandler))
