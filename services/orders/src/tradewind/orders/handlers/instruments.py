"""Listings of ``instrument.listed``: the service's own copy of what it accepts orders for."""

from __future__ import annotations

import logging

import asyncpg

from tradewind.common.broker import Delivery
from tradewind.common.contracts import InstrumentListed
from tradewind.common.envelope import CloudEvent
from tradewind.orders.adapters import OrdersUnitOfWork

log = logging.getLogger(__name__)


class InstrumentHandler:
    """Upserts each listing; an announcement older than the one applied never wins."""

    def __init__(self, *, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def handle(self, event: CloudEvent, delivery: Delivery) -> None:
        if event.type != InstrumentListed.TYPE:
            log.debug("ignoring event", extra={"event_type": event.type})
            return
        instrument = event.data_as(InstrumentListed).instrument
        async with OrdersUnitOfWork.begin(self.pool) as unit:
            applied = await unit.record_listing(instrument, listed_at=event.time)
        log.info(
            "instrument listed" if applied else "older instrument listing ignored",
            extra={"symbol": instrument.symbol, "message_id": delivery.message_id},
        )
