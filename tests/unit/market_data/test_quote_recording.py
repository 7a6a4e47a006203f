"""Recorded quote feeds: the CSV format, its replay schedule, the sample shipped with the service,
and the replay loop."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tradewind.market_data.adapters.replay import ReplayFeed, load_recording
from tradewind.market_data.domain.quotes import QuoteInput, validate_batch
from tradewind.market_data.domain.recording import InvalidRecording, parse_recording
from tradewind.market_data.settings import DEFAULT_INSTRUMENTS

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = ROOT / "services" / "market-data" / "recordings" / "sample-quotes.csv"
HEADER = "timestamp,symbol,bid_price,bid_size,ask_price,ask_size\n"
THREE_FRAMES = (
    HEADER
    + "2025-03-03T14:30:00Z,AAPL,190.00,100,190.02,200\n"
    + "2025-03-03T14:30:00Z,MSFT,420.00,100,420.01,200\n"
    + "2025-03-03T14:30:00.500Z,AAPL,190.01,100,190.03,200\n"
    + "2025-03-03T14:30:02Z,MSFT,420.01,300,420.02,200\n"
)


def test_quotes_sharing_a_timestamp_form_one_frame_offset_from_the_first() -> None:
    recording = parse_recording(THREE_FRAMES)

    assert [frame.offset_s for frame in recording.frames] == [0.0, 0.5, 2.0]
    assert [[q.symbol for q in frame.quotes] for frame in recording.frames] == [
        ["AAPL", "MSFT"],
        ["AAPL"],
        ["MSFT"],
    ]
    first = recording.frames[0].quotes[0]
    assert (first.bid_price, first.bid_size, first.ask_price, first.ask_size) == (
        Decimal("190.00"),
        Decimal("100"),
        Decimal("190.02"),
        Decimal("200"),
    )
    assert recording.symbols == {"AAPL", "MSFT"}


def test_a_loop_lasts_the_recording_plus_its_mean_spacing_and_speed_divides_time() -> None:
    recording = parse_recording(THREE_FRAMES)
    last = recording.frames[-1]

    assert recording.period_s == 3.0  # 2 s recorded, then the mean 1 s step to the next loop
    assert recording.due_s(0, last, speed=1) == 2.0
    assert recording.due_s(1, recording.frames[0], speed=1) == 3.0
    assert recording.due_s(2, last, speed=4) == 2.0


def test_a_recording_of_one_frame_repeats_every_second() -> None:
    recording = parse_recording(HEADER + "2025-03-03T14:30:00Z,AAPL,1.00,1,1.01,1\n")

    assert recording.period_s == 1.0


def test_columns_may_come_in_any_order() -> None:
    text = (
        "symbol,ask_size,ask_price,bid_size,bid_price,timestamp\n"
        "AAPL,2,1.01,1,1.00,2025-03-03T14:30:00+01:00\n"
    )

    (frame,) = parse_recording(text).frames

    assert frame.quotes[0].ask_size == 2
    assert frame.quotes[0].timestamp == datetime(2025, 3, 3, 13, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("timestamp,symbol,bid_price\n", "line 1: the header lacks bid_size, ask_price, ask_size"),
        (HEADER, "holds no quote"),
        (HEADER + "2025-03-03T14:30:00,AAPL,1,1,1,1\n", "line 2: timestamp has no offset"),
        (HEADER + "yesterday,AAPL,1,1,1,1\n", "line 2: timestamp is not RFC 3339"),
        (HEADER + "2025-03-03T14:30:00Z,AAPL,one,1,1,1\n", "line 2: bid_price is not a decimal"),
        (HEADER + "2025-03-03T14:30:00Z,AAPL,NaN,1,1,1\n", "line 2: bid_price is not a finite"),
        (HEADER + "2025-03-03T14:30:00Z,,1,1,1,1\n", "line 2: symbol is empty"),
        (
            HEADER + "2025-03-03T14:30:01Z,AAPL,1,1,1,1\n2025-03-03T14:30:00Z,AAPL,1,1,1,1\n",
            "line 3: timestamp earlier than the line before",
        ),
    ],
)
def test_a_recording_that_cannot_be_replayed_is_refused_naming_the_line(
    text: str, message: str
) -> None:
    with pytest.raises(InvalidRecording, match=message):
        parse_recording(text)


def test_a_recording_of_unlisted_symbols_is_refused_at_load(tmp_path: Path) -> None:
    path = tmp_path / "quotes.csv"
    path.write_text(THREE_FRAMES, encoding="utf-8")

    with pytest.raises(InvalidRecording, match="symbols not among the instruments: MSFT"):
        load_recording(path, ["AAPL"])
    with pytest.raises(InvalidRecording, match=r"missing\.csv"):
        load_recording(tmp_path / "missing.csv", ["AAPL"])


def test_the_sample_recording_replays_valid_quotes_of_every_default_instrument() -> None:
    listed = {instrument.symbol: instrument for instrument in DEFAULT_INSTRUMENTS}
    recording = load_recording(SAMPLE, listed)

    assert recording.symbols == set(listed)
    assert 200 <= sum(len(frame.quotes) for frame in recording.frames) <= 1000
    for frame in recording.frames:
        # As the replay sends them: stamped now, then through the pipeline's validation.
        now = datetime.now(UTC)
        stamped = [replace(quote, timestamp=now) for quote in frame.quotes]
        validate_batch(stamped, listed, now=now, max_future_skew=timedelta(0))


async def test_the_replay_loops_and_stamps_each_quote_with_the_time_it_is_played() -> None:
    recording = parse_recording(THREE_FRAMES)
    played: list[list[QuoteInput]] = []
    enough = asyncio.Event()
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

    async def ingest(quotes: Sequence[QuoteInput]) -> None:
        played.append(list(quotes))
        if len(played) == 7:
            enough.set()

    # 1000 times as fast: a 3 s loop takes 3 ms.
    feed = ReplayFeed(recording, ingest, speed=1000, clock=lambda: now)
    task = asyncio.create_task(feed.run())
    try:
        await asyncio.wait_for(enough.wait(), timeout=10)
    finally:
        task.cancel()

    assert [[q.symbol for q in batch] for batch in played[:7]] == [
        ["AAPL", "MSFT"],
        ["AAPL"],
        ["MSFT"],
    ] * 2 + [["AAPL", "MSFT"]]
    assert {q.timestamp for batch in played for q in batch} == {now}
    assert played[3][0].bid_price == recording.frames[0].quotes[0].bid_price
