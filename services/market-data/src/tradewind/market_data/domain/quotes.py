"""A quote entering the service and the rules it must satisfy. Pure: no I/O, no clock."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from tradewind.common.contracts import Instrument


@dataclass(frozen=True)
class QuoteInput:
    """Top of book as a feed (or the simulator) reports it, before a sequence number is given."""

    symbol: str
    bid_price: Decimal
    bid_size: Decimal
    ask_price: Decimal
    ask_size: Decimal
    timestamp: datetime

    @property
    def mid_price(self) -> Decimal:
        # Decimal division by 2 is exact: a tick of 0.01 gives mids on 0.005.
        return (self.bid_price + self.ask_price) / 2


@dataclass(frozen=True)
class QuoteFieldError:
    index: int
    field: str
    message: str


class InvalidQuotes(ValueError):
    """At least one quote of a batch breaks a rule; the whole batch is refused."""

    def __init__(self, errors: Sequence[QuoteFieldError]) -> None:
        self.errors = list(errors)
        first = self.errors[0]
        super().__init__(
            f"{len(self.errors)} invalid field(s); first: quotes[{first.index}].{first.field}: "
            f"{first.message}"
        )


def quote_errors(
    index: int,
    quote: QuoteInput,
    instruments: Mapping[str, Instrument],
    *,
    now: datetime,
    max_future_skew: timedelta,
) -> list[QuoteFieldError]:
    """Every rule ``quote`` breaks, each naming its field."""
    errors: list[QuoteFieldError] = []

    def fail(field: str, message: str) -> None:
        errors.append(QuoteFieldError(index, field, message))

    instrument = instruments.get(quote.symbol)
    if instrument is None:
        fail("symbol", f"unknown symbol {quote.symbol!r}")
    for field, price in (("bid_price", quote.bid_price), ("ask_price", quote.ask_price)):
        if not price.is_finite() or price <= 0:
            fail(field, "must be greater than 0")
        elif instrument is not None and price % instrument.tick_size != 0:
            fail(field, f"must be a multiple of the tick size {instrument.tick_size}")
    for field, size in (("bid_size", quote.bid_size), ("ask_size", quote.ask_size)):
        if not size.is_finite() or size < 0:
            fail(field, "must be 0 or greater")
    if (
        quote.bid_price.is_finite()
        and quote.ask_price.is_finite()
        and quote.bid_price > quote.ask_price
    ):
        fail("bid_price", "must not exceed ask_price (crossed quote)")
    if quote.timestamp.tzinfo is None:
        fail("timestamp", "must include a timezone offset")
    elif quote.timestamp - now > max_future_skew:
        # A quote from the future would stay "latest" until the clock caught up with it.
        fail("timestamp", f"must not be more than {max_future_skew} in the future")
    return errors


def validate_batch(
    quotes: Sequence[QuoteInput],
    instruments: Mapping[str, Instrument],
    *,
    now: datetime,
    max_future_skew: timedelta,
) -> list[QuoteInput]:
    """The batch with UTC timestamps, or InvalidQuotes listing every error (all-or-nothing)."""
    errors = [
        error
        for index, quote in enumerate(quotes)
        for error in quote_errors(
            index, quote, instruments, now=now, max_future_skew=max_future_skew
        )
    ]
    if errors:
        raise InvalidQuotes(errors)
    return [_in_utc(quote) for quote in quotes]


def _in_utc(quote: QuoteInput) -> QuoteInput:
    if quote.timestamp.tzinfo is UTC:
        return quote
    return replace(quote, timestamp=quote.timestamp.astimezone(UTC))
