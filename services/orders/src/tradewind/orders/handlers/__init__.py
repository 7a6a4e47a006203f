"""What the orders service does with each message, and on the session-end schedule: load through
the unit of work, decide in the domain, stage the changes and their events."""

from tradewind.orders.handlers.commands import INBOX_CONSUMER, OrderCommandHandler, OrderNotFound
from tradewind.orders.handlers.events import EVENT_SOURCE, OrderEvents
from tradewind.orders.handlers.expiry import DayOrderExpiry
from tradewind.orders.handlers.instruments import InstrumentHandler
from tradewind.orders.handlers.jobs import StatementJobs
from tradewind.orders.handlers.quotes import QuoteHandler
from tradewind.orders.handlers.subscriptions import (
    SERVICE,
    command_queue,
    instrument_queue,
    jobs_queue,
    orders_subscriptions,
    quote_queue,
)

__all__ = [
    "EVENT_SOURCE",
    "INBOX_CONSUMER",
    "SERVICE",
    "DayOrderExpiry",
    "InstrumentHandler",
    "OrderCommandHandler",
    "OrderEvents",
    "OrderNotFound",
    "QuoteHandler",
    "StatementJobs",
    "command_queue",
    "instrument_queue",
    "jobs_queue",
    "orders_subscriptions",
    "quote_queue",
]
