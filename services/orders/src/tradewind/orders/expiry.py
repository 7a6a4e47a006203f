"""Expires day orders at the session end, in the background of every orders process."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, time

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tradewind.common.broker import Topology
from tradewind.common.contracts.types import utc_now
from tradewind.orders import domain
from tradewind.orders.events import OrderEvents
from tradewind.orders.store import OrderStore

log = logging.getLogger(__name__)


class DayOrderExpiry:
    """Expires working day orders submitted before the most recent session end.

    Every process may run one: each pass locks the orders it expires with SKIP LOCKED, so two
    processes never expire the same order and neither waits for an order a fill or a cancel holds
    (that order is looked at again on the next pass, if it is still working).
    """

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        topology: Topology,
        session_end: time,
        batch_size: int = 200,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.sessions = sessions
        self.session_end = session_end
        self.batch_size = batch_size
        self.clock = clock
        self.events = OrderEvents(topology)

    async def expire_due(self) -> int:
        """Expire every order due now; returns how many were expired."""
        total = 0
        while True:
            expired, batch_full = await self._expire_batch()
            total += expired
            if not (expired and batch_full):
                return total

    async def _expire_batch(self) -> tuple[int, bool]:
        now = self.clock()
        session_end_at = domain.latest_session_end(now, self.session_end)
        async with self.sessions() as session, session.begin():
            store = OrderStore(session)
            due = await store.day_orders_due(session_end_at, self.batch_size)
            expired = [
                domain.expire(order, now)
                for order in due
                if domain.expires_at_session_end(order, session_end_at)
            ]
            for expiry in expired:
                await store.update(expiry.order)
                await self.events.stage(session, expiry.event, expiry.order, now=now)
        if expired:
            log.info(
                "day orders expired",
                extra={"count": len(expired), "session_end": session_end_at.isoformat()},
            )
        return len(expired), len(due) == self.batch_size
