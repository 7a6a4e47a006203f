"""Quote validation: every broken rule is named, and a batch is all-or-nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from tradewind.market_data.domain.quotes import InvalidQuotes, QuoteInput, validate_batch
from tradewind.market_data.settings import DEFAULT_INSTRUMENTS

NOW = datetime(2025, 3, 3, 14, 30, tzinfo=UTC)
INSTRUMENTS = {instrument.symbol: instrument for instrument in DEFAULT_INSTRUMENTS}
SKEW = timedelta(seconds=10)

GOOD = QuoteInput(
    symbol="AAPL",
    bid_price=Decimal("190.10"),
    bid_size=Decimal("300"),
    ask_price=Decimal("190.12"),
    ask_size=Decimal("0"),
    timestamp=NOW - timedelta(seconds=1),
)


def errors_of(*quotes: QuoteInput) -> list[tuple[int, str, str]]:
    with pytest.raises(InvalidQuotes) as caught:
        validate_batch(quotes, INSTRUMENTS, now=NOW, max_future_skew=SKEW)
    return [(e.index, e.field, e.message) for e in caught.value.errors]


def test_a_good_batch_is_returned_with_utc_timestamps() -> None:
    paris = timezone(timedelta(hours=1))
    local = replace(GOOD, timestamp=datetime(2025, 3, 3, 15, 29, tzinfo=paris))

    (quote,) = validate_batch([local], INSTRUMENTS, now=NOW, max_future_skew=SKEW)

    assert quote.timestamp == datetime(2025, 3, 3, 14, 29, tzinfo=UTC)
    assert quote.timestamp.tzinfo is UTC


def test_bid_equal_to_ask_is_allowed() -> None:
    locked = replace(GOOD, ask_price=GOOD.bid_price)

    assert validate_batch([locked], INSTRUMENTS, now=NOW, max_future_skew=SKEW) == [locked]


def test_an_unknown_symbol_is_named() -> None:
    assert errors_of(replace(GOOD, symbol="NOPE")) == [(0, "symbol", "unknown symbol 'NOPE'")]


def test_a_crossed_quote_is_refused() -> None:
    crossed = replace(GOOD, bid_price=Decimal("190.13"))

    assert errors_of(crossed) == [(0, "bid_price", "must not exceed ask_price (crossed quote)")]


@pytest.mark.parametrize("price", [Decimal("0"), Decimal("-1.00")])
def test_prices_must_be_positive(price: Decimal) -> None:
    assert errors_of(replace(GOOD, bid_price=price)) == [(0, "bid_price", "must be greater than 0")]


def test_sizes_must_not_be_negative() -> None:
    assert errors_of(replace(GOOD, ask_size=Decimal("-1"))) == [
        (0, "ask_size", "must be 0 or greater")
    ]


def test_prices_must_be_on_the_tick() -> None:
    off_tick = replace(GOOD, ask_price=Decimal("190.125"))

    assert errors_of(off_tick) == [(0, "ask_price", "must be a multiple of the tick size 0.01")]


def test_a_timestamp_without_offset_is_refused() -> None:
    naive = replace(GOOD, timestamp=datetime(2025, 3, 3, 14, 29))

    assert errors_of(naive) == [(0, "timestamp", "must include a timezone offset")]


def test_a_timestamp_too_far_in_the_future_is_refused() -> None:
    future = replace(GOOD, timestamp=NOW + SKEW + timedelta(seconds=1))

    assert errors_of(future) == [(0, "timestamp", "must not be more than 0:00:10 in the future")]


def test_every_error_of_every_quote_is_reported_by_index() -> None:
    errors = errors_of(
        GOOD,
        replace(GOOD, symbol="NOPE", bid_size=Decimal("-5")),
        GOOD,
        replace(GOOD, bid_price=Decimal("190.20")),
    )

    assert [(index, field) for index, field, _ in errors] == [
        (1, "symbol"),
        (1, "bid_size"),
        (3, "bid_price"),
    ]
