"""The market-data database: one-minute bars, quote identities for deduplication, the outbox;
and the bars' reads (every write is in ``adapters.unit_of_work``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    DateTime,
    Index,
    MetaData,
    Numeric,
    String,
    Table,
    and_,
    bindparam,
    func,
    literal,
    select,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession

from tradewind.common.outbox import outbox_table
from tradewind.common.paging import (
    decode_page_token,
    encode_page_token,
    utc_instant,
)
from tradewind.market_data.domain.bars import (
    BUCKET_ORIGIN,
    Timeframe,
    bucket_ceil,
    bucket_floor,
)

metadata = MetaData()

# Only one-minute bars are stored; longer timeframes are aggregated from them when read.
bars_1min = Table(
    "bars_1min",
    metadata,
    Column("symbol", String(16), primary_key=True),
    Column("bucket_start", DateTime(timezone=True), primary_key=True),
    Column("open", Numeric(asdecimal=True), nullable=False),
    Column("high", Numeric(asdecimal=True), nullable=False),
    Column("low", Numeric(asdecimal=True), nullable=False),
    Column("close", Numeric(asdecimal=True), nullable=False),
    Column("volume", BigInteger, nullable=False),
    # The timestamps of the quotes that set open and close: what makes the upsert order-free.
    Column("open_ts", DateTime(timezone=True), nullable=False),
    Column("close_ts", DateTime(timezone=True), nullable=False),
)

# A quote counted in a bar: a replay of it (a feed resending a batch) is not counted again.
quote_marks = Table(
    "quote_marks",
    metadata,
    Column("symbol", String(16), primary_key=True),
    Column("ts", DateTime(timezone=True), primary_key=True),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_quote_marks_recorded_at", "recorded_at"),
)

outbox = outbox_table(metadata)


@dataclass(frozen=True)
class BarCursor:
    """Where a page of bars ended: its symbol, timeframe and last bar start."""

    symbol: str
    timeframe: Timeframe
    last_start: datetime

    def encode(self) -> str:
        return encode_page_token([self.symbol, self.timeframe.value, self.last_start.isoformat()])

    @classmethod
    def decode(cls, token: str) -> BarCursor:
        def build(fields: list[Any]) -> BarCursor:
            symbol, timeframe, last_start = fields
            return cls(str(symbol), Timeframe(timeframe), utc_instant(last_start))

        return decode_page_token(token, build)


@dataclass(frozen=True)
class BarRow:
    start: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: int


@dataclass(frozen=True)
class BarPage:
    bars: Sequence[BarRow]
    next_cursor: BarCursor | None


class BarReads:
    """Bar queries inside the caller's session (writes go through ``MarketDataUnitOfWork``)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def page(
        self,
        symbol: str,
        timeframe: Timeframe,
        *,
        start: datetime | None,
        end: datetime | None,
        limit: int,
        cursor: BarCursor | None,
    ) -> BarPage:
        """Bars of ``timeframe`` whose start lies in [start, end], oldest first."""
        length = timeframe.length
        conditions: list[ColumnElement[bool]] = [bars_1min.c.symbol == symbol]
        first_start = bucket_ceil(start, length) if start is not None else None
        if cursor is not None:
            after_cursor = cursor.last_start + length
            first_start = after_cursor if first_start is None else max(first_start, after_cursor)
        if first_start is not None:
            conditions.append(bars_1min.c.bucket_start >= first_start)
        if end is not None:
            # Every minute of the last bar that starts at or before ``end``.
            conditions.append(bars_1min.c.bucket_start < bucket_floor(end, length) + length)
        bar_start = func.date_bin(
            bindparam("length", length), bars_1min.c.bucket_start, literal(BUCKET_ORIGIN)
        ).label("start")
        c = bars_1min.c
        first_open = func.array_agg(aggregate_order_by(c.open, c.open_ts.asc()))[1]
        last_close = func.array_agg(aggregate_order_by(c.close, c.close_ts.desc()))[1]
        query = (
            select(
                bar_start,
                first_open.label("open"),
                func.max(c.high).label("high"),
                func.min(c.low).label("low"),
                last_close.label("close"),
                func.sum(c.volume).label("volume"),
            )
            .where(and_(*conditions))
            .group_by(bar_start)
            .order_by(bar_start)
            .limit(limit + 1)  # one more than asked tells whether another page exists
        )
        rows = (await self.session.execute(query)).all()
        page = [_bar_row(row._mapping) for row in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            next_cursor = BarCursor(symbol, timeframe, page[-1].start)
        return BarPage(page, next_cursor)


def _bar_row(row: Any) -> BarRow:
    return BarRow(
        start=row["start"],
        open=row["open"],
        high=row["high"],
        low=row["low"],
        close=row["close"],
        volume=int(row["volume"]),
    )
