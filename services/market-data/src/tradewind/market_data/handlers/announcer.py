"""Announces every instrument as ``instrument.listed`` through the outbox, at start and then
periodically, so that a subscriber that starts late (or lost its copy) converges."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tradewind.common.contracts import Instrument, InstrumentListed
from tradewind.common.envelope import new_event
from tradewind.market_data.adapters.unit_of_work import MarketDataUnitOfWork
from tradewind.market_data.handlers.quote_pipeline import EVENT_SOURCE

log = logging.getLogger(__name__)


class InstrumentAnnouncer:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        exchange: str,
        instruments: Sequence[Instrument],
        interval_s: float,
    ) -> None:
        self.sessions = sessions
        self.exchange = exchange
        self.instruments = list(instruments)
        self.interval_s = interval_s

    async def announce(self) -> None:
        """Stage one instrument.listed per instrument, in one transaction."""
        async with MarketDataUnitOfWork.begin(self.sessions) as unit:
            for instrument in self.instruments:
                event = new_event(
                    source=EVENT_SOURCE,
                    data=InstrumentListed(instrument=instrument),
                    event_type=InstrumentListed.TYPE,
                    subject=instrument.symbol,
                )
                await unit.add_event(event, exchange=self.exchange)
        log.info("instruments announced", extra={"instruments": len(self.instruments)})

    async def run(self) -> None:
        while True:
            try:
                await self.announce()
            except Exception as exc:
                log.warning("instrument announcement failed", extra={"error": repr(exc)})
            await asyncio.sleep(self.interval_s)
