"""The unit of work of every market-data write: one SQLAlchemy transaction on one session.

The bar writer (quotes into bars, and forgetting old quote identities) and the instrument
announcer (``instrument.listed`` through the outbox) change the database only through it, so
each write is all or nothing and the outbox rows commit with what caused them. SQLAlchemy Core
is the service's one data-access style: a bar per symbol and minute is never CPU-bound, and the
outbox relay that publishes the rows is the shared one (asyncpg, inside ``tradewind.common``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, Self

from sqlalchemy import case, delete, func, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tradewind.common.envelope import CloudEvent
from tradewind.common.outbox import Outbox
from tradewind.market_data.adapters.store import bars_1min, outbox, quote_marks
from tradewind.market_data.domain.bars import Bar, aggregate, distinct_quotes
from tradewind.market_data.domain.quotes import QuoteInput

_MARK_NEW_QUOTES = text(
    """
    INSERT INTO quote_marks (symbol, ts)
    SELECT * FROM unnest(CAST(:symbols AS text[]), CAST(:timestamps AS timestamptz[]))
    ON CONFLICT DO NOTHING
    RETURNING symbol, ts
    """
)
# Bind parameters per statement stay far below PostgreSQL's 32767.
_UPSERT_CHUNK = 1_000
_OUTBOX = Outbox(outbox)


class MarketDataUnitOfWork:
    """One transaction on one session; ``begin`` opens it and commits when the block ends
    normally, and nothing is written if it raises."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    @asynccontextmanager
    async def begin(cls, sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[Self]:
        async with sessions() as session, session.begin():
            yield cls(session)

    # --- bars ---

    async def record_quotes(self, quotes: Sequence[QuoteInput]) -> int:
        """Count the quotes not counted before into their bars; returns how many were new."""
        candidates = sorted(distinct_quotes(quotes), key=lambda q: (q.symbol, q.timestamp))
        if not candidates:
            return 0
        marked = await self.session.execute(
            _MARK_NEW_QUOTES,
            {
                "symbols": [quote.symbol for quote in candidates],
                "timestamps": [quote.timestamp for quote in candidates],
            },
        )
        new_keys = {(row.symbol, row.ts) for row in marked}
        new_quotes = [q for q in candidates if (q.symbol, q.timestamp) in new_keys]
        bars = aggregate(new_quotes)
        for first in range(0, len(bars), _UPSERT_CHUNK):
            await self._upsert(bars[first : first + _UPSERT_CHUNK])
        return len(new_quotes)

    async def _upsert(self, bars: Sequence[Bar]) -> None:
        """Merge ``bars`` into the stored ones, as ``bars.merge`` does (rows in key order)."""
        statement = pg_insert(bars_1min).values([_bar_values(bar) for bar in bars])
        new = statement.excluded
        stored = bars_1min.c
        statement = statement.on_conflict_do_update(
            index_elements=[stored.symbol, stored.bucket_start],
            set_={
                "open": case((new.open_ts < stored.open_ts, new.open), else_=stored.open),
                "open_ts": func.least(stored.open_ts, new.open_ts),
                "high": func.greatest(stored.high, new.high),
                "low": func.least(stored.low, new.low),
                "close": case((new.close_ts > stored.close_ts, new.close), else_=stored.close),
                "close_ts": func.greatest(stored.close_ts, new.close_ts),
                "volume": stored.volume + new.volume,
            },
        )
        await self.session.execute(statement)

    async def forget_quotes_recorded_before(self, moment: datetime) -> int:
        result = await self.session.execute(
            delete(quote_marks).where(quote_marks.c.recorded_at < moment)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    # --- events ---

    async def add_event(self, event: CloudEvent, *, exchange: str) -> None:
        """An outbox row, written with the transaction; the relay publishes it after commit."""
        await _OUTBOX.add(self.session, event, exchange=exchange)


def _bar_values(bar: Bar) -> dict[str, Any]:
    return {
        "symbol": bar.symbol,
        "bucket_start": bar.start,
        "open": bar.open,
        "high": bar.high,
        "low": bar.low,
        "close": bar.close,
        "volume": bar.volume,
        "open_ts": bar.open_ts,
        "close_ts": bar.close_ts,
    }
