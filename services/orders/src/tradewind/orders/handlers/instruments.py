"""Listings of ``instrument.listed``: the service's own copy of what it accepts orders for."""

from __future__ import annotations

import logging

import asyncpg

from tradewind.common.broker import Delivery, MessageHandlers, handles
from tradewind.common.contracts import InstrumentListed
from tradewind.common.envelope import CloudEvent
from tradewind.orders.adapters import OrdersUnitOfWork

log = logging.getLogger(__name__)


class InstrumentHandler:
    """Upserts each listing; an announcement older than the one applied never wins."""

    def __init__(self, *, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.handle = MessageHandlers.of(self)

    @handles(InstrumentListed)
    async def on_listed(
        self, listed: InstrumentListed, event: CloudEvent, delivery: Delivery
    ) -> None:
        instrument = listed.instrument
        async with OrdersUnitOfWork.begin(self.pool) as unit:
            applied = await unit.record_listing(instrument, listed_at=event.time)
        log.info(
            "instrument listed" if applied else "older instrument listing ignored",
            extra={"symbol": instrument.symbol, "message_id": delivery.message_id},
        )
