"""Expires day orders at the market's closes, in the background of every orders process."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

import asyncpg

from tradewind.common.broker import Topology
from tradewind.common.contracts.types import utc_now
from tradewind.common.market_calendar import MarketCalendar
from tradewind.orders import domain
from tradewind.orders.adapters import OrdersUnitOfWork
from tradewind.orders.domain import order_classes
from tradewind.orders.handlers.events import OrderEvents, order_groups

log = logging.getLogger(__name__)


class DayOrderExpiry:
    """Expires working day orders submitted before the market's most recent close.

    Every process may run one: each pass locks the orders it expires with SKIP LOCKED, so two
    processes never expire the same order and neither waits for an order a fill or a cancel holds
    (that order is looked at again on the next pass, if it is still working).
    """

    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        topology: Topology,
        calendar: MarketCalendar,
        batch_size: int = 200,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.pool = pool
        self.calendar = calendar
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
        session_end_at = self.calendar.latest_close(now)
        async with OrdersUnitOfWork.begin(self.pool) as unit:
            due = await unit.day_orders_due(session_end_at, self.batch_size)
            # An entry's held legs settle with it (domain/order_classes.py); they are taken
            # without waiting too, and an entry whose legs another transaction holds is left
            # for the next pass rather than expired without them.
            entries = [
                order.id
                for order in due
                if order.parent_id is None and order.order_class in order_classes.ACTIVATED_BY_ENTRY
            ]
            await unit.lock_legs_skip_locked(entries)
            groups = order_groups(unit, due)
            expired = [
                domain.expire(order, now)
                for order in due
                if domain.expires_at_session_end(order, session_end_at)
                and (order.id not in entries or order.id in groups)
            ]
            for expiry in expired:
                unit.update(expiry.order)
                unit.stage(self.events.outbox_row(expiry.event, expiry.order, now=now))
            self.events.follow_groups(unit, groups.values(), now=now, cause=None)
        if expired:
            log.info(
                "day orders expired",
                extra={"count": len(expired), "session_end": session_end_at.isoformat()},
            )
        return len(expired), len(due) == self.batch_size
