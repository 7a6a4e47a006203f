"""One WebSocket client's stream: its subscriptions, sequence numbers and bounded backlog."""

from __future__ import annotations

import asyncio
import json
from typing import Any

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

    # --- subscriptions ---

    def wants_quote(self, symbol: str) -> bool:
        return WILDCARD in self.quote_symbols or symbol in self.quote_symbols

    def subscribe(self, quotes: list[str], trade_updates: bool | None) -> None:
        self.quote_symbols.update(quotes)
        if trade_updates:
            self.trade_updates = True

    def unsubscribe(self, quotes: list[str], trade_updates: bool | None) -> None:
        self.quote_symbols.difference_update(quotes)
        if trade_updates:
            self.trade_updates = False

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

    async def next_frame(self) -> str | None:
        """The next frame to send, or None when the connection must close."""
        return await self._frames.get()

    @property
    def backlog(self) -> int:
        return self._frames.qsize()
