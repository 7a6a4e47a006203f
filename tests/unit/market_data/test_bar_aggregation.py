"""Bar aggregation: exact OHLCV whatever order the quotes arrive in."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tradewind.market_data.domain.bars import (
    Bar,
    Timeframe,
    aggregate,
    bucket_ceil,
    bucket_floor,
    merge,
)
from tradewind.market_data.domain.quotes import QuoteInput

T0 = datetime(2025, 3, 3, 14, 30, tzinfo=UTC)


def quote(seconds: float, mid: str, symbol: str = "AAPL") -> QuoteInput:
    """A quote whose mid price is ``mid`` (bid and ask one cent either side)."""
    price = Decimal(mid)
    return QuoteInput(
        symbol=symbol,
        bid_price=price - Decimal("0.01"),
        bid_size=Decimal(100),
        ask_price=price + Decimal("0.01"),
        ask_size=Decimal(200),
        timestamp=T0 + timedelta(seconds=seconds),
    )


# Arrival order: 14:30:40 and 14:30:05 come after later quotes; 14:31:30 before 14:31:10.
ARRIVALS = [
    quote(10, "100.00"),
    quote(50, "101.50"),
    quote(40, "103.00"),  # late: the high, but not the close
    quote(5, "99.00"),  # late: the open and the low
    quote(30, "100.50"),
    quote(90, "102.00"),  # 14:31:30, the close of the second minute
    quote(70, "101.00"),  # 14:31:10, late: its open
]

EXPECTED = [
    Bar(
        symbol="AAPL",
        start=T0,
        open=Decimal("99.00"),
        high=Decimal("103.00"),
        low=Decimal("99.00"),
        close=Decimal("101.50"),
        volume=5,
        open_ts=T0 + timedelta(seconds=5),
        close_ts=T0 + timedelta(seconds=50),
    ),
    Bar(
        symbol="AAPL",
        start=T0 + timedelta(minutes=1),
        open=Decimal("101.00"),
        high=Decimal("102.00"),
        low=Decimal("101.00"),
        close=Decimal("102.00"),
        volume=2,
        open_ts=T0 + timedelta(seconds=70),
        close_ts=T0 + timedelta(seconds=90),
    ),
]


def test_late_and_out_of_order_quotes_give_the_exact_bars() -> None:
    assert aggregate(ARRIVALS) == EXPECTED


def test_any_arrival_order_gives_the_same_bars() -> None:
    rng = random.Random(1)
    for _ in range(50):
        shuffled = ARRIVALS[:]
        rng.shuffle(shuffled)
        assert aggregate(shuffled) == EXPECTED


def test_bars_written_in_pieces_merge_into_the_same_bars() -> None:
    # What the database does: each flush upserts its partial bars into the stored ones.
    for cut in range(1, len(ARRIVALS)):
        stored = {bar.start: bar for bar in aggregate(ARRIVALS[:cut])}
        for bar in aggregate(ARRIVALS[cut:]):
            stored[bar.start] = merge(stored[bar.start], bar) if bar.start in stored else bar
        assert [stored[start] for start in sorted(stored)] == EXPECTED


def test_merge_is_order_independent() -> None:
    partials = [aggregate([q])[0] for q in ARRIVALS[:5]]
    results = set()
    for order in itertools.permutations(partials):
        bar = order[0]
        for other in order[1:]:
            bar = merge(bar, other)
        results.add(bar)
    assert results == {EXPECTED[0]}


def test_a_repeated_quote_counts_once() -> None:
    assert aggregate([*ARRIVALS, ARRIVALS[0], ARRIVALS[3]]) == EXPECTED


def test_the_bar_price_is_the_exact_mid_price() -> None:
    odd_spread = QuoteInput(
        symbol="AAPL",
        bid_price=Decimal("190.01"),
        bid_size=Decimal(1),
        ask_price=Decimal("190.04"),
        ask_size=Decimal(1),
        timestamp=T0,
    )

    (bar,) = aggregate([odd_spread])

    assert bar.open == bar.close == Decimal("190.025")


def test_symbols_get_their_own_bars() -> None:
    bars = aggregate([quote(1, "10", "MSFT"), quote(2, "20", "AAPL"), quote(3, "30", "MSFT")])

    assert [(bar.symbol, bar.open, bar.close, bar.volume) for bar in bars] == [
        ("AAPL", Decimal("20"), Decimal("20"), 1),
        ("MSFT", Decimal("10"), Decimal("30"), 2),
    ]


def test_a_quote_belongs_to_the_minute_it_falls_in() -> None:
    last_moment = quote(59.999999, "1")
    next_minute = quote(60, "2")

    bars = aggregate([last_moment, next_minute])

    assert [bar.start for bar in bars] == [T0, T0 + timedelta(minutes=1)]


def test_merging_bars_of_different_buckets_is_refused() -> None:
    first, second = EXPECTED
    with pytest.raises(ValueError, match="cannot be merged"):
        merge(first, second)


@pytest.mark.parametrize(
    ("timeframe", "length"),
    [
        (Timeframe.MINUTE_1, timedelta(minutes=1)),
        (Timeframe.MINUTE_5, timedelta(minutes=5)),
        (Timeframe.MINUTE_15, timedelta(minutes=15)),
        (Timeframe.HOUR_1, timedelta(hours=1)),
        (Timeframe.DAY_1, timedelta(days=1)),
    ],
)
def test_timeframes_have_alpacas_names_and_lengths(timeframe: Timeframe, length: timedelta) -> None:
    assert Timeframe(timeframe.value).length == length


def test_buckets_align_on_utc_boundaries() -> None:
    moment = datetime(2025, 3, 3, 14, 33, 20, tzinfo=UTC)

    assert bucket_floor(moment, Timeframe.MINUTE_5.length) == datetime(
        2025, 3, 3, 14, 30, tzinfo=UTC
    )
    assert bucket_ceil(moment, Timeframe.MINUTE_5.length) == datetime(
        2025, 3, 3, 14, 35, tzinfo=UTC
    )
    assert bucket_floor(moment, Timeframe.DAY_1.length) == datetime(2025, 3, 3, tzinfo=UTC)
    assert bucket_ceil(T0, Timeframe.MINUTE_15.length) == T0
