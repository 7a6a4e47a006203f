"""Quotes of ``market.quote.<SYM>``: each one executes the symbol's orders it can fill.

A quote is one transaction: the symbol's book row locked (quotes of a symbol are processed one at
a time across every orders process), a sequence check (a quote not newer than the last one
processed changes nothing, which also makes a redelivery harmless), the orders the quote can
change loaded and locked — only those, through the matching indexes — matching, then orders,
executions, positions, book and outbox rows written together.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

import asyncpg

from tradewind.common.broker import Delivery, MessageHandlers, Topology, handles
from tradewind.common.contracts import Quote
from tradewind.common.contracts.types import utc_now
from tradewind.common.envelope import CloudEvent
from tradewind.common.outbox_handoff import OutboxHandoff
from tradewind.orders.adapters import OrdersUnitOfWork
from tradewind.orders.domain import order_classes
from tradewind.orders.domain.ledger import DEFAULT_INITIAL_CASH
from tradewind.orders.handlers.events import OrderEvents, order_groups

log = logging.getLogger(__name__)


class QuoteHandler:
    """Executes the symbol's orders a new quote can fill; ``handle`` is the consumer's entry."""

    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        topology: Topology,
        concurrency: int = 4,
        initial_cash: Decimal = DEFAULT_INITIAL_CASH,
        clock: Callable[[], datetime] = utc_now,
        handoff: OutboxHandoff | None = None,
    ) -> None:
        self.handoff = handoff
        self.pool = pool
        self.initial_cash = initial_cash
        self.clock = clock
        self.events = OrderEvents(topology)
        # The broker hands over up to a prefetch of quotes at once. Quotes of one symbol wait
        # here, in order, rather than each holding a database connection while it waits for the
        # book lock; and only a few symbols are matched at once, leaving connections to commands.
        self._symbols: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._slots = asyncio.Semaphore(concurrency)
        self.handle = MessageHandlers.of(self)

    @handles(Quote)
    async def on_quote(self, quote: Quote, event: CloudEvent, delivery: Delivery) -> None:
        async with self._symbols[quote.symbol], self._slots:
            await self._execute(quote, event)

    async def _execute(self, quote: Quote, event: CloudEvent) -> None:
        async with OrdersUnitOfWork.begin(
            self.pool, initial_cash=self.initial_cash, handoff=self.handoff
        ) as unit:
            await unit.lock_books([quote.symbol])
            book = unit.book(quote.symbol)
            if not book.is_older_than(quote):
                log.debug(
                    "quote not newer than the last one processed; skipped",
                    extra={
                        "symbol": quote.symbol,
                        "sequence": quote.sequence,
                        "last_sequence": book.last_sequence,
                    },
                )
                return
            candidates = await unit.executable_orders(quote)
            lot_size = None
            if any(order.unsized for order in candidates):
                # Notional orders are sized on the quote they trade on, in whole lots.
                await unit.load_listings([quote.symbol])
                lot_size = unit.lot_size(quote.symbol)
            # The groups (bracket, oco, oto) of the candidates, locked whole: the one-cancels-
            # other rule is decided and written in this transaction, under this book lock.
            await unit.lock_groups(candidates)
            groups = order_groups(unit, candidates)
            now = self.clock()
            match = order_classes.match_quote_in_groups(
                book, quote, candidates, groups, now, lot_size=lot_size
            )
            await unit.lock_positions(
                {(execution.account_id, quote.symbol) for execution in match.executions}
            )
            self.events.settle(unit, match, now=now, cause=event)
            self.events.follow_groups(unit, groups.values(), now=now, cause=event)
        if match.changes:
            log.info(
                "quote executed",
                extra={
                    "symbol": quote.symbol,
                    "sequence": quote.sequence,
                    "candidates": len(candidates),
                    "executions": len(match.executions),
                    "orders_changed": len(match.changes),
                },
            )
