"""One WebSocket client's stream: its subscriptions, sequence numbers and bounded backlog."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tradewind.gateway.domain.stream_resume import TradeUpdateFeed

WILDCARD = "*"


class StreamSession:
    """Frames wait here until the connection's sender writes them.

    The backlog is bounded: a client that cannot keep up is told so and closed, rather than making
    the gateway hold an unbounded queue for it. Sequence numbers are assigned when a frame is
    queued, so a client that receives frames sees them without gaps.
    """

    def __init__(self, account_id: str, max_backlog: int) -> None:
        self.account_id = account_id
        self.quote_symbols: set[str] = set()
        self.trade_updates = False
        self.cancel_on_disconnect = False
        """Cancel the account's open orders when this connection ends (opt-in)."""
        self._seq = 0
        self._frames: asyncio.Queue[str | None] = asyncio.Queue(max_backlog + 2)
        self._max_backlog = max_backlog
        self.overflowed = False
        self._taken = asyncio.Event()
        self.trade_feed = TradeUpdateFeed(max_held=max_backlog)
        """Which trade updates the client gets, in account-sequence order (stream_resume)."""

    # --- subscriptions ---

    def wants_quote(self, symbol: str) -> bool:
        return WILDCARD in self.quote_symbols or symbol in self.quote_symbols

    def subscribe(
        self, quotes: list[str], trade_updates: bool | None, resume_after: int | None = None
    ) -> None:
        """``resume_after``: the client's last account sequence; the updates after it come
        first (from the kept ones), then live ones. Without it, trade updates start from now."""
        self.quote_symbols.update(quotes)
        if trade_updates and (not self.trade_updates or resume_after is not None):
            self.trade_feed.start(resume_after)
        if trade_updates:
            self.trade_updates = True

    def unsubscribe(self, quotes: list[str], trade_updates: bool | None) -> None:
        self.quote_symbols.difference_update(quotes)
        if trade_updates:
            self.trade_updates = False
            self.trade_feed.stop()

    def subscription(self) -> dict[str, Any]:
        return {
            "type": "subscription",
            "quotes": sorted(self.quote_symbols),
            "trade_updates": self.trade_updates,
        }

    # --- frames ---

    def push(self, message: dict[str, Any]) -> None:
        self.push_json(json.dumps(message, separators=(",", ":")))

    def push_json(self, payload: str) -> None:
        """Queue a pre-serialised JSON object, prefixed with the next sequence number."""
        if self.overflowed:
            return
        if self._frames.qsize() >= self._max_backlog:
            self._overflow()
            return
        self._seq += 1
        self._frames.put_nowait(f'{{"seq":{self._seq},{payload[1:]}')

    def _overflow(self) -> None:
        self.overflowed = True
        # Queued frames were never sent: take their numbers back, so the client sees the error
        # right after the last frame it could have received, without a gap.
        while not self._frames.empty():
            self._frames.get_nowait()
            self._seq -= 1
        self._seq += 1
        error = {
            "seq": self._seq,
            "type": "error",
            "code": "slow_consumer",
            "message": f"More than {self._max_backlog} messages waiting; closing the stream.",
        }
        self._frames.put_nowait(json.dumps(error, separators=(",", ":")))
        self._frames.put_nowait(None)  # the sender closes the connection here

    def close_with(self, code: str, message: str) -> None:
        """Send an error frame after what is queued, then close the connection (1013)."""
        if self.overflowed:
            return
        self.push({"type": "error", "code": code, "message": message})
        if self.overflowed:
            return  # no room left even for the error: the slow-consumer close goes out instead
        self.overflowed = True  # nothing more is queued after the close
        self._frames.put_nowait(None)

    async def next_frame(self) -> str | None:
        """The next frame to send, or None when the connection must close."""
        frame = await self._frames.get()
        self._taken.set()
        return frame

    async def room_below(self, size: int) -> None:
        """Until at most ``size`` frames wait (a long catch-up refills the queue this way)."""
        while self._frames.qsize() > size:
            self._taken.clear()
            await self._taken.wait()

    @property
    def backlog(self) -> int:
        return self._frames.qsize()

    @property
    def max_backlog(self) -> int:
        return self._max_backlog
