"""The replay feed: a recorded CSV file played at its recorded pace (or ``speed`` times faster),
over and over, each quote stamped with the time it is played at (see ``domain.recording``)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from tradewind.market_data.domain.quotes import QuoteInput
from tradewind.market_data.domain.recording import InvalidRecording, Recording, parse_recording

log = logging.getLogger(__name__)


def load_recording(path: Path, listed: Collection[str]) -> Recording:
    """The recording at ``path``; InvalidRecording (naming the file) if it cannot be replayed
    here, so a bad file stops the service at start rather than failing every replayed batch."""
    try:
        recording = parse_recording(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, InvalidRecording) as exc:
        raise InvalidRecording(f"{path}: {exc}") from exc
    unknown = sorted(recording.symbols - set(listed))
    if unknown:
        raise InvalidRecording(f"{path}: symbols not among the instruments: {', '.join(unknown)}")
    return recording


class ReplayFeed:
    """Plays ``recording`` into ``ingest`` until cancelled."""

    def __init__(
        self,
        recording: Recording,
        ingest: Callable[[Sequence[QuoteInput]], Awaitable[object]],
        *,
        speed: float,
        clock: Callable[[], datetime],
    ) -> None:
        self.recording = recording
        self.ingest = ingest
        self.speed = speed
        self.clock = clock

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        log.info(
            "quote replay started",
            extra={
                "frames": len(self.recording.frames),
                "symbols": sorted(self.recording.symbols),
                "period_s": self.recording.period_s,
                "speed": self.speed,
            },
        )
        start = loop.time()
        rounds = 0
        while True:
            for frame in self.recording.frames:
                delay = start + self.recording.due_s(rounds, frame, self.speed) - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                else:
                    # Behind schedule: carry on from now rather than bursting to catch up.
                    start -= delay
                    await asyncio.sleep(0)
                now = self.clock()
                try:
                    await self.ingest([replace(quote, timestamp=now) for quote in frame.quotes])
                except Exception as exc:
                    log.warning("replayed quotes were not ingested", extra={"error": repr(exc)})
            rounds += 1
