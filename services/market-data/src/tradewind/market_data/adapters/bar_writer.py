"""Buffers quotes in memory and writes them into the bars every interval or N quotes.

One write is one transaction (mark the quotes, upsert their bars), so a failed write leaves
nothing behind and its quotes are simply kept for the next one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tradewind.common.wakeups import wait_at_most
from tradewind.market_data.adapters.unit_of_work import MarketDataUnitOfWork
from tradewind.market_data.domain.quotes import QuoteInput
from tradewind.market_data.metrics import BAR_FLUSH_SECONDS, BAR_QUOTES

log = logging.getLogger(__name__)

PURGE_EVERY = timedelta(minutes=1)


class BarWriter:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        flush_interval_s: float,
        flush_max_quotes: int,
        buffer_limit: int,
        dedupe_retention: timedelta,
        clock: Callable[[], datetime],
    ) -> None:
        self.sessions = sessions
        self.flush_interval_s = flush_interval_s
        self.flush_max_quotes = flush_max_quotes
        self.buffer_limit = buffer_limit
        self.dedupe_retention = dedupe_retention
        self.clock = clock
        self._buffer: list[QuoteInput] = []
        self._wake = asyncio.Event()
        self._flush_lock = asyncio.Lock()
        self._last_purge: datetime | None = None

    @property
    def pending(self) -> int:
        return len(self._buffer)

    def add(self, quotes: Sequence[QuoteInput]) -> None:
        self._buffer.extend(quotes)
        self._enforce_limit()
        if len(self._buffer) >= self.flush_max_quotes:
            self._wake.set()

    async def run(self) -> None:
        """Flush until cancelled; the caller flushes once more after cancelling."""
        while True:
            await wait_at_most(self._wake, self.flush_interval_s)
            self._wake.clear()
            try:
                await self.flush()
                await self._purge_if_due()
            except Exception as exc:
                log.warning(
                    "bar write failed; its quotes are kept for the next one",
                    extra={"pending_quotes": self.pending, "error": repr(exc)},
                )

    async def flush(self) -> int:
        """Write every buffered quote into the bars; returns how many were counted (not replays)."""
        async with self._flush_lock:
            pending, self._buffer = self._buffer, []
            if not pending:
                return 0
            started = time.perf_counter()
            try:
                async with MarketDataUnitOfWork.begin(self.sessions) as unit:
                    counted = await unit.record_quotes(pending)
            except BaseException:
                BAR_FLUSH_SECONDS.labels(outcome="failed").observe(time.perf_counter() - started)
                self._buffer[:0] = pending
                self._enforce_limit()
                raise
            BAR_FLUSH_SECONDS.labels(outcome="ok").observe(time.perf_counter() - started)
            BAR_QUOTES.labels(outcome="counted").inc(counted)
            BAR_QUOTES.labels(outcome="duplicate").inc(len(pending) - counted)
            return counted

    async def _purge_if_due(self) -> None:
        now = self.clock()
        if self._last_purge is not None and now - self._last_purge < PURGE_EVERY:
            return
        self._last_purge = now
        async with MarketDataUnitOfWork.begin(self.sessions) as unit:
            forgotten = await unit.forget_quotes_recorded_before(now - self.dedupe_retention)
        if forgotten:
            log.info("forgot old quote identities", extra={"quotes": forgotten})

    def _enforce_limit(self) -> None:
        excess = len(self._buffer) - self.buffer_limit
        if excess > 0:
            del self._buffer[:excess]
            BAR_QUOTES.labels(outcome="dropped").inc(excess)
            log.error(
                "bar buffer full; the oldest quotes are dropped from the bars",
                extra={"dropped_quotes": excess, "buffer_limit": self.buffer_limit},
            )
