"""A recorded quote feed (CSV) and its replay schedule. Pure: the text comes in, frames go out.

The file has a header row naming the ``QuoteInput`` fields, in any order:
``timestamp,symbol,bid_price,bid_size,ask_price,ask_size``; timestamps RFC 3339 with an offset,
in order (not decreasing). Quotes that share a timestamp form one frame, replayed as one batch.
Recorded timestamps give only the pace: a replayed quote is stamped with the time it is replayed
at, because a quote from the past would never become the latest one nor land in a current bar.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from tradewind.market_data.domain.quotes import QuoteInput

COLUMNS = ("timestamp", "symbol", "bid_price", "bid_size", "ask_price", "ask_size")
# The pause between the last frame and the first of the next loop when a recording has a
# single frame (otherwise it is the recording's mean spacing).
SINGLE_FRAME_PERIOD_S = 1.0


class InvalidRecording(ValueError):
    """The recording cannot be replayed; the message names the line."""


@dataclass(frozen=True)
class Frame:
    offset_s: float  # since the recording's first frame
    quotes: tuple[QuoteInput, ...]


@dataclass(frozen=True)
class Recording:
    frames: tuple[Frame, ...]
    # From the first frame of one loop to the first frame of the next.
    period_s: float

    @property
    def symbols(self) -> frozenset[str]:
        return frozenset(quote.symbol for frame in self.frames for quote in frame.quotes)

    def due_s(self, loop: int, frame: Frame, speed: float) -> float:
        """When ``frame`` of loop number ``loop`` (0, 1, ...) is due, in seconds from the
        replay's start, played ``speed`` times as fast as recorded."""
        return (loop * self.period_s + frame.offset_s) / speed


def parse_recording(text: str) -> Recording:
    reader = csv.DictReader(io.StringIO(text))
    missing = [column for column in COLUMNS if column not in (reader.fieldnames or ())]
    if missing:
        raise InvalidRecording(f"line 1: the header lacks {', '.join(missing)}")
    quotes: list[QuoteInput] = []
    for row in reader:
        quote = _quote(row, reader.line_num)
        if quotes and quote.timestamp < quotes[-1].timestamp:
            raise InvalidRecording(
                f"line {reader.line_num}: timestamp earlier than the line before"
            )
        quotes.append(quote)
    if not quotes:
        raise InvalidRecording("the recording holds no quote")
    return _framed(quotes)


def _quote(row: dict[str, str | None], line: int) -> QuoteInput:
    def text(column: str) -> str:
        value = (row.get(column) or "").strip()
        if not value:
            raise InvalidRecording(f"line {line}: {column} is empty")
        return value

    def decimal(column: str) -> Decimal:
        try:
            value = Decimal(text(column))
        except InvalidOperation:
            raise InvalidRecording(f"line {line}: {column} is not a decimal") from None
        if not value.is_finite():
            raise InvalidRecording(f"line {line}: {column} is not a finite decimal")
        return value

    try:
        timestamp = datetime.fromisoformat(text("timestamp"))
    except ValueError:
        raise InvalidRecording(f"line {line}: timestamp is not RFC 3339") from None
    if timestamp.tzinfo is None:
        raise InvalidRecording(f"line {line}: timestamp has no offset")
    return QuoteInput(
        symbol=text("symbol"),
        bid_price=decimal("bid_price"),
        bid_size=decimal("bid_size"),
        ask_price=decimal("ask_price"),
        ask_size=decimal("ask_size"),
        timestamp=timestamp,
    )


def _framed(quotes: list[QuoteInput]) -> Recording:
    start = quotes[0].timestamp
    frames: list[Frame] = []
    batch: list[QuoteInput] = []
    for quote in quotes:
        if batch and quote.timestamp != batch[0].timestamp:
            frames.append(Frame((batch[0].timestamp - start).total_seconds(), tuple(batch)))
            batch = []
        batch.append(quote)
    frames.append(Frame((batch[0].timestamp - start).total_seconds(), tuple(batch)))
    duration = frames[-1].offset_s
    period = duration + duration / (len(frames) - 1) if len(frames) > 1 else SINGLE_FRAME_PERIOD_S
    return Recording(tuple(frames), period)
