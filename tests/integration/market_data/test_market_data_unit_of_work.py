"""The unit of work of every market-data write, on the real database: quotes counted into bars
once, old quote identities forgotten, outbox rows written with the transaction, and nothing at
all when the block raises. Each test uses symbols of its own (the database is shared)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tradewind.common.contracts import Instrument, InstrumentListed
from tradewind.common.envelope import new_event
from tradewind.market_data.adapters.unit_of_work import MarketDataUnitOfWork
from tradewind.market_data.domain.quotes import QuoteInput

Sessions = async_sessionmaker[AsyncSession]
T0 = datetime(2025, 3, 3, 14, 30, tzinfo=UTC)


def new_symbol() -> str:
    return "U" + uuid.uuid4().hex[:8].upper()


def quote(symbol: str, second: int, bid: str) -> QuoteInput:
    return QuoteInput(
        symbol=symbol,
        bid_price=Decimal(bid),
        bid_size=Decimal("100"),
        ask_price=Decimal(bid) + Decimal("0.02"),
        ask_size=Decimal("100"),
        timestamp=T0 + timedelta(seconds=second),
    )


def listed(symbol: str) -> InstrumentListed:
    instrument = Instrument(symbol=symbol, name=symbol, tick_size="0.01", lot_size="1")
    return InstrumentListed(instrument=instrument)


async def volume(sessions: Sessions, symbol: str) -> int:
    async with sessions() as session:
        total = await session.scalar(
            text("SELECT coalesce(sum(volume), 0) FROM bars_1min WHERE symbol = :s"),
            {"s": symbol},
        )
    return int(total or 0)


async def test_quotes_are_counted_into_their_bars_once(market_data_sessions: Sessions) -> None:
    symbol = new_symbol()
    batch = [quote(symbol, 1, "10.00"), quote(symbol, 70, "10.50")]
    async with MarketDataUnitOfWork.begin(market_data_sessions) as unit:
        assert await unit.record_quotes(batch) == 2
    async with MarketDataUnitOfWork.begin(market_data_sessions) as unit:
        # A feed resending the batch, with one new quote.
        assert await unit.record_quotes([*batch, quote(symbol, 2, "10.10")]) == 1
    assert await volume(market_data_sessions, symbol) == 3
    async with market_data_sessions() as session:
        minutes = await session.scalar(
            text("SELECT count(*) FROM bars_1min WHERE symbol = :s"), {"s": symbol}
        )
    assert minutes == 2


async def test_a_failed_write_leaves_nothing_behind(market_data_sessions: Sessions) -> None:
    symbol = new_symbol()

    async def failing_write() -> None:
        async with MarketDataUnitOfWork.begin(market_data_sessions) as unit:
            await unit.record_quotes([quote(symbol, 1, "10.00")])
            event = new_event(
                source="/tests",
                data=listed(symbol),
                event_type=InstrumentListed.TYPE,
            )
            await unit.add_event(event, exchange="ex")
            raise RuntimeError("the write failed")

    with pytest.raises(RuntimeError):
        await failing_write()
    assert await volume(market_data_sessions, symbol) == 0
    async with MarketDataUnitOfWork.begin(market_data_sessions) as unit:
        # The quote was not marked as counted either: it counts now.
        assert await unit.record_quotes([quote(symbol, 1, "10.00")]) == 1


async def test_events_are_written_to_the_outbox_with_the_transaction(
    market_data_sessions: Sessions,
) -> None:
    symbol = new_symbol()
    event = new_event(
        source="/tests",
        data=listed(symbol),
        event_type=InstrumentListed.TYPE,
        subject=symbol,
    )
    async with MarketDataUnitOfWork.begin(market_data_sessions) as unit:
        await unit.add_event(event, exchange="tw.events")
    async with market_data_sessions() as session, session.begin():
        # Taken back at once: the database is shared with the service's own relay, which would
        # publish the row to an exchange that does not exist and lose its channel.
        row = (
            await session.execute(
                text(
                    "DELETE FROM outbox WHERE message_id = :id AND published_at IS NULL"
                    " RETURNING exchange, routing_key"
                ),
                {"id": event.id},
            )
        ).one()
    assert tuple(row) == ("tw.events", InstrumentListed.TYPE)


async def test_old_quote_identities_are_forgotten(market_data_sessions: Sessions) -> None:
    symbol = new_symbol()
    async with MarketDataUnitOfWork.begin(market_data_sessions) as unit:
        await unit.record_quotes([quote(symbol, 1, "10.00")])
    async with market_data_sessions() as session, session.begin():
        await session.execute(
            text(
                "UPDATE quote_marks SET recorded_at = now() - interval '2 days' WHERE symbol = :s"
            ),
            {"s": symbol},
        )
    async with MarketDataUnitOfWork.begin(market_data_sessions) as unit:
        cutoff = datetime.now(UTC) - timedelta(days=1)
        assert await unit.forget_quotes_recorded_before(cutoff) >= 1
    async with market_data_sessions() as session:
        marks = await session.scalar(
            text("SELECT count(*) FROM quote_marks WHERE symbol = :s"), {"s": symbol}
        )
    assert marks == 0
