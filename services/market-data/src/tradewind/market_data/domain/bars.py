"""OHLCV bars from quotes. Pure: no I/O.

A bar's price is the quote's mid price and its volume the number of distinct quotes (tick volume):
quote sizes are resting liquidity, not traded quantity, so summing them would mean nothing.

A quote is identified by (symbol, timestamp). Open is the price of the earliest timestamp in the
bucket and close the price of the latest, whatever order the quotes arrive in, so a bar keeps the
timestamps of its open and close: ``merge`` (and the SQL upsert that mirrors it) compares them,
which makes combining partial bars order-independent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from tradewind.market_data.domain.quotes import QuoteInput

# Every timeframe divides a day, so buckets aligned on this midnight are aligned on every midnight.
BUCKET_ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)
STORED_BUCKET = timedelta(minutes=1)


class Timeframe(StrEnum):
    """Alpaca's timeframe names. Days are UTC days."""

    MINUTE_1 = "1Min"
    MINUTE_5 = "5Min"
    MINUTE_15 = "15Min"
    HOUR_1 = "1Hour"
    DAY_1 = "1Day"

    @property
    def length(self) -> timedelta:
        return _LENGTHS[self]


_LENGTHS = {
    Timeframe.MINUTE_1: timedelta(minutes=1),
    Timeframe.MINUTE_5: timedelta(minutes=5),
    Timeframe.MINUTE_15: timedelta(minutes=15),
    Timeframe.HOUR_1: timedelta(hours=1),
    Timeframe.DAY_1: timedelta(days=1),
}


def bucket_floor(moment: datetime, length: timedelta) -> datetime:
    """Start of the bucket of ``length`` containing ``moment``."""
    return BUCKET_ORIGIN + ((moment - BUCKET_ORIGIN) // length) * length


def bucket_ceil(moment: datetime, length: timedelta) -> datetime:
    """Start of the first bucket of ``length`` starting at or after ``moment``."""
    floor = bucket_floor(moment, length)
    return floor if floor == moment else floor + length


@dataclass(frozen=True)
class Bar:
    symbol: str
    start: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: int
    open_ts: datetime
    close_ts: datetime


def bar_of(quote: QuoteInput) -> Bar:
    """The one-minute bar of a single quote."""
    price = quote.mid_price
    return Bar(
        symbol=quote.symbol,
        start=bucket_floor(quote.timestamp, STORED_BUCKET),
        open=price,
        high=price,
        low=price,
        close=price,
        volume=1,
        open_ts=quote.timestamp,
        close_ts=quote.timestamp,
    )


def merge(current: Bar, other: Bar) -> Bar:
    """Both bars' quotes in one bar; they must be of the same symbol and bucket.

    Ties on open_ts/close_ts keep ``current``: they cannot happen between distinct quotes, since a
    timestamp identifies a quote of a symbol.
    """
    if (current.symbol, current.start) != (other.symbol, other.start):
        raise ValueError("bars of different symbols or buckets cannot be merged")
    earlier_open = other.open_ts < current.open_ts
    later_close = other.close_ts > current.close_ts
    return Bar(
        symbol=current.symbol,
        start=current.start,
        open=other.open if earlier_open else current.open,
        high=max(current.high, other.high),
        low=min(current.low, other.low),
        close=other.close if later_close else current.close,
        volume=current.volume + other.volume,
        open_ts=other.open_ts if earlier_open else current.open_ts,
        close_ts=other.close_ts if later_close else current.close_ts,
    )


def distinct_quotes(quotes: Iterable[QuoteInput]) -> list[QuoteInput]:
    """The first quote of each (symbol, timestamp): a repeated quote is one quote."""
    seen: dict[tuple[str, datetime], QuoteInput] = {}
    for quote in quotes:
        seen.setdefault((quote.symbol, quote.timestamp), quote)
    return list(seen.values())


def aggregate(quotes: Iterable[QuoteInput]) -> list[Bar]:
    """One-minute bars of the distinct quotes, sorted by (symbol, start)."""
    bars: dict[tuple[str, datetime], Bar] = {}
    for quote in distinct_quotes(quotes):
        bar = bar_of(quote)
        key = (bar.symbol, bar.start)
        existing = bars.get(key)
        bars[key] = bar if existing is None else merge(existing, bar)
    return [bars[key] for key in sorted(bars)]
