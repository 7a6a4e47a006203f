"""The orders service's queues: each bound to exactly the message types its handler declares."""

from __future__ import annotations

from tradewind.common.broker import QueueSpec, Subscriptions, Topology, declared_types, queue_spec
from tradewind.common.broker.catalog import (
    ORDERS_COMMANDS,
    ORDERS_INSTRUMENTS,
    ORDERS_JOBS,
    ORDERS_QUOTES,
)
from tradewind.common.contracts.jobs import MAX_JOB_PRIORITY
from tradewind.orders.handlers.commands import OrderCommandHandler
from tradewind.orders.handlers.instruments import InstrumentHandler
from tradewind.orders.handlers.jobs import StatementJobs
from tradewind.orders.handlers.quotes import QuoteHandler

SERVICE = ORDERS_COMMANDS.service  # queues are named <namespace>.orders.<purpose>
# The purposes come from the shared catalog, which the health service watches.
INSTRUMENTS, COMMANDS, QUOTES, JOBS = (
    ORDERS_INSTRUMENTS.purpose,
    ORDERS_COMMANDS.purpose,
    ORDERS_QUOTES.purpose,
    ORDERS_JOBS.purpose,
)
# One job at a time per consumer: with more in hand, a high-priority job published meanwhile
# would wait behind normal ones already delivered (priorities order only what is waiting).
JOBS_PREFETCH = 1


def orders_subscriptions(
    instruments: InstrumentHandler,
    commands: OrderCommandHandler,
    quotes: QuoteHandler,
    statement_jobs: StatementJobs,
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
    subscriptions.consume(
        JOBS,
        statement_jobs,
        exchange="commands",
        max_priority=MAX_JOB_PRIORITY,
        prefetch=JOBS_PREFETCH,
    )
    return subscriptions


def command_queue(topology: Topology) -> QueueSpec:
    return queue_spec(topology, SERVICE, COMMANDS, OrderCommandHandler.TAKES, "commands")


def instrument_queue(topology: Topology) -> QueueSpec:
    return queue_spec(topology, SERVICE, INSTRUMENTS, declared_types(InstrumentHandler))


def quote_queue(topology: Topology) -> QueueSpec:
    return queue_spec(topology, SERVICE, QUOTES, declared_types(QuoteHandler))


def jobs_queue(topology: Topology) -> QueueSpec:
    return queue_spec(
        topology,
        SERVICE,
        JOBS,
        declared_types(StatementJobs),
        "commands",
        max_priority=MAX_JOB_PRIORITY,
        prefetch=JOBS_PREFETCH,
    )
