"""The quote simulator: reproducible, never crossed, always on the tick."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from tradewind.common.contracts import Instrument
from tradewind.market_data.adapters.simulator import QuoteSimulator
from tradewind.market_data.domain.quotes import QuoteInput, validate_batch
from tradewind.market_data.settings import DEFAULT_INSTRUMENTS

T0 = datetime(2025, 3, 3, 14, 30, tzinfo=UTC)
COARSE = Instrument(
    symbol="COARSE", name="Coarse ticks", tick_size=Decimal("0.05"), lot_size=Decimal("10")
)


def run(simulator: QuoteSimulator, steps: int) -> list[QuoteInput]:
    return [
        quote
        for step in range(steps)
        for quote in simulator.next_quotes(T0 + timedelta(milliseconds=step))
    ]


def test_the_same_seed_gives_the_same_quotes() -> None:
    first = run(QuoteSimulator(DEFAULT_INSTRUMENTS, seed=7), 200)
    second = run(QuoteSimulator(DEFAULT_INSTRUMENTS, seed=7), 200)

    assert first == second


def test_another_seed_gives_other_quotes() -> None:
    first = run(QuoteSimulator(DEFAULT_INSTRUMENTS, seed=7), 50)
    second = run(QuoteSimulator(DEFAULT_INSTRUMENTS, seed=8), 50)

    assert first != second


def test_a_symbols_quotes_do_not_depend_on_the_other_symbols() -> None:
    alone = QuoteSimulator([DEFAULT_INSTRUMENTS[0]], seed=3)
    together = QuoteSimulator(DEFAULT_INSTRUMENTS, seed=3)
    symbol = DEFAULT_INSTRUMENTS[0].symbol

    assert [alone.next_quote(symbol, T0) for _ in range(50)] == [
        together.next_quote(symbol, T0) for _ in range(50)
    ]


def test_quotes_start_near_the_start_price() -> None:
    simulator = QuoteSimulator(DEFAULT_INSTRUMENTS, seed=1, start_prices={"AAPL": Decimal("190")})

    quote = simulator.next_quote("AAPL", T0)

    assert Decimal("189.90") <= quote.bid_price <= Decimal("190.10")


def test_bid_never_exceeds_ask_and_prices_stay_positive() -> None:
    quotes = run(QuoteSimulator([*DEFAULT_INSTRUMENTS, COARSE], seed=11), 2_000)

    assert all(q.bid_price < q.ask_price for q in quotes)
    assert all(q.bid_price > 0 and q.bid_size > 0 and q.ask_size > 0 for q in quotes)


def test_prices_are_on_the_tick_and_sizes_in_lots() -> None:
    simulator = QuoteSimulator([COARSE], seed=5, start_prices={"COARSE": Decimal("12.34")})

    quotes = [simulator.next_quote("COARSE", T0) for _ in range(500)]

    assert all(q.bid_price % Decimal("0.05") == 0 for q in quotes)
    assert all(q.ask_price % Decimal("0.05") == 0 for q in quotes)
    assert all(q.bid_size % Decimal("10") == 0 for q in quotes)


def test_simulated_quotes_pass_the_ingest_validation() -> None:
    instruments = {i.symbol: i for i in (*DEFAULT_INSTRUMENTS, COARSE)}
    quotes = run(QuoteSimulator(list(instruments.values()), seed=2), 300)

    assert validate_batch(quotes, instruments, now=T0, max_future_skew=timedelta(seconds=1))
