"""Handlers of market-data events: instrument listings, and quotes that orders execute against.

A quote is processed in one transaction: inbox claim, the symbol's book row locked FOR UPDATE
(quotes of one symbol are processed one at a time, across every orders process), a sequence check
(a quote not newer than the last one processed changes nothing), the symbol's working orders
locked, matching, then executions, orders, positions, book and outbox rows written together.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import delete, func
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tradewind.common.broker import Delivery, Topology
from tradewind.common.contracts import InstrumentListed, Quote
from tradewind.common.contracts.types import utc_now
from tradewind.common.envelope import CloudEvent
from tradewind.common.outbox import Inbox
from tradewind.orders import domain
from tradewind.orders.events import OrderEvents
from tradewind.orders.store import ExecutionStore, MarketStore, OrderStore, inbox

log = logging.getLogger(__name__)

QUOTES_INBOX_CONSUMER = "orders.quotes"


class InstrumentHandler:
    """Keeps the service's copy of the listed instruments: what it accepts orders for."""

    def __init__(self, *, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def handle(self, event: CloudEvent, delivery: Delivery) -> None:
        if event.type != InstrumentListed.TYPE:
            log.debug("ignoring event", extra={"event_type": event.type})
            return
        instrument = event.data_as(InstrumentListed).instrument
        async with self.sessions() as session, session.begin():
            applied = await MarketStore(session).record_listing(instrument, listed_at=event.time)
        log.info(
            "instrument listed" if applied else "older instrument listing ignored",
            extra={"symbol": instrument.symbol, "message_id": delivery.message_id},
        )


class QuoteHandler:
    """Executes the symbol's working orders against each new quote."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        topology: Topology,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.events = OrderEvents(topology)
        self.inbox = Inbox(inbox, consumer=QUOTES_INBOX_CONSUMER)

    async def handle(self, event: CloudEvent, delivery: Delivery) -> None:
        if event.type != Quote.TYPE:
            log.debug("ignoring event", extra={"event_type": event.type})
            return
        quote = event.data_as(Quote)
        async with self.sessions() as session, session.begin():
            if not await self.inbox.claim(session, delivery.message_id or event.id):
                log.info(
                    "quote already processed; ignoring the redelivery",
                    extra={"symbol": quote.symbol, "sequence": quote.sequence},
                )
                return
            market = MarketStore(session)
            book = await market.lock_book(quote.symbol)
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
            orders = OrderStore(session)
            working = await orders.working_orders(quote.symbol)
            now = self.clock()
            match = domain.match_quote(book, quote, working, now)
            executions = ExecutionStore(session)
            accounts = sorted({execution.account_id for execution in match.executions})
            positions = await executions.lock_positions(accounts, quote.symbol)
            settlement = domain.settle(match, positions, now)

            await market.save_book(match.book)
            await executions.insert_executions(match.executions)
            for change in match.changes:
                await orders.update(change.order, previous_version=change.previous_version)
            await executions.save_positions(settlement.positions)
            for staged in settlement.events:
                await self.events.stage(
                    session, staged.data, staged.order, now=now, cause=event, event_id=staged.id
                )
        if match.changes:
            log.info(
                "quote executed",
                extra={
                    "symbol": quote.symbol,
                    "sequence": quote.sequence,
                    "executions": len(match.executions),
                    "orders_changed": len(match.changes),
                },
            )

    async def forget_older_than(self, seconds: float) -> int:
        """Drop quote ids processed more than ``seconds`` ago from the inbox.

        Safe because a redelivery that old is older than the symbol's last sequence anyway.
        """
        async with self.sessions() as session, session.begin():
            forgotten = await session.scalars(
                delete(inbox)
                .where(
                    inbox.c.consumer == QUOTES_INBOX_CONSUMER,
                    inbox.c.processed_at < func.now() - timedelta(seconds=seconds),
                )
                .returning(inbox.c.message_id)
            )
            return len(forgotten.all())
