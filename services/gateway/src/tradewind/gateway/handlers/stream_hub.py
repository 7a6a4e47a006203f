"""The gateway process's one stream consumer, fanning events out to its WebSocket sessions.

Trade updates go through each session's feed (``domain.stream_resume``): in account-sequence
order, each once. When a feed needs the updates it missed (a client resuming, or a gap in what
arrived live), the hub reads them from the orders service in a task of the session's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any, Protocol

from prometheus_client import Counter, Gauge

from tradewind.common.broker import Delivery
from tradewind.common.contracts.market import Quote
from tradewind.common.contracts.trade_updates import TRADE_UPDATES_PAGE_LIMIT, TradeUpdatesPage
from tradewind.common.envelope import CloudEvent
from tradewind.gateway.adapters.stream_bindings import StreamBindings, needed_routing_keys
from tradewind.gateway.domain.stream_session import StreamSession
from tradewind.gateway.domain.trade_update_frames import (
    TRADE_EVENT_NAMES,
    account_sequence,
    snapshot_frame,
    trade_update_frame,
)

log = logging.getLogger(__name__)

STREAM_CLIENTS = Gauge("tradewind_stream_clients", "Connected WebSocket clients.")
STREAM_FRAMES = Counter("tradewind_stream_frames_total", "Frames queued to clients.", ["type"])
STREAM_SLOW_CLOSES = Counter(
    "tradewind_stream_slow_consumer_closes_total", "Clients closed for falling behind."
)
STREAM_CATCH_UPS = Counter(
    "tradewind_stream_trade_update_reads_total",
    "Reads of an account's kept trade updates for a stream client (resume or gap), by outcome.",
    ["outcome"],
)

# While it catches up, a client's queue is refilled only below this share of its bound, so a
# long backlog never closes it as a slow consumer.
_ROOM_SHARE = 2


class TradeUpdateReads(Protocol):
    async def trade_updates(self, account_id: str, after: int, limit: int) -> TradeUpdatesPage:
        """The account's kept trade updates after ``after`` (the orders service's route)."""
        ...


def _dumps(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"), default=str)


class StreamHub:
    def __init__(
        self,
        bindings: StreamBindings | None = None,
        trade_update_reads: TradeUpdateReads | None = None,
    ) -> None:
        self.sessions: set[StreamSession] = set()
        self.bindings = bindings
        self.trade_update_reads = trade_update_reads
        """Where missed trade updates are read (set once the orders client exists)."""
        self._binding = asyncio.Lock()
        self._catch_ups: dict[StreamSession, asyncio.Task[None]] = {}

    async def follow_subscriptions(self) -> None:
        """Bind the stream queue to what the clients want now (before a subscription is
        acknowledged, so every event after the acknowledgement reaches the client)."""
        if self.bindings is None:
            return
        async with self._binding:
            await self.bindings.apply(needed_routing_keys(self.sessions))

    def add(self, session: StreamSession) -> None:
        self.sessions.add(session)
        STREAM_CLIENTS.set(len(self.sessions))

    def remove(self, session: StreamSession) -> None:
        self.sessions.discard(session)
        STREAM_CLIENTS.set(len(self.sessions))
        task = self._catch_ups.pop(session, None)
        if task is not None:
            task.cancel()

    def catch_up_of(self, session: StreamSession) -> asyncio.Task[None] | None:
        """The session's read of missed updates, if one was started."""
        return self._catch_ups.get(session)

    def catch_up(self, session: StreamSession) -> None:
        """Read what the session's feed asks for (after a resume was acknowledged, or a gap),
        unless a read for it is under way already (that one goes on with it)."""
        running = self._catch_ups.get(session)
        if running is not None and not running.done():
            return
        if session not in self.sessions or not session.trade_feed.read_due:
            return
        self._catch_ups[session] = asyncio.create_task(
            self._read_missed(session), name="stream trade update catch-up"
        )

    async def on_event(self, event: CloudEvent, delivery: Delivery) -> None:
        """Broker handler: never raises, so a bad event cannot stall the stream."""
        try:
            if event.type == Quote.TYPE:
                self._fan_out_quote(event)
            elif event.type in TRADE_EVENT_NAMES and event.accountid:
                self._fan_out_trade_update(event, event.accountid)
        except Exception:
            log.exception("stream fan-out failed", extra={"event_id": event.id})

    def _fan_out_quote(self, event: CloudEvent) -> None:
        symbol = str(event.data.get("symbol", event.subject or ""))
        payload: str | None = None
        for session in list(self.sessions):
            if session.wants_quote(symbol):
                payload = payload or _dumps({"type": "quote", "data": event.data})
                self._push(session, payload, "quote")

    def _fan_out_trade_update(self, event: CloudEvent, account_id: str) -> None:
        payload: str | None = None
        sequence = account_sequence(event)
        for session in list(self.sessions):
            if session.trade_updates and session.account_id == account_id:
                payload = payload or trade_update_frame(event)
                for frame in session.trade_feed.offer(sequence, payload).deliver:
                    self._push(session, frame, "trade_update")
                self.catch_up(session)

    async def _read_missed(self, session: StreamSession) -> None:
        """Read the kept updates the feed asks for, page by page, until it has caught up; if
        they cannot be read, close the stream: the client resumes from its last number."""
        feed = session.trade_feed
        limit = max(1, min(TRADE_UPDATES_PAGE_LIMIT, session.max_backlog // _ROOM_SHARE))
        while (after := feed.take_read()) is not None:
            epoch = feed.epoch
            await session.room_below(session.max_backlog // _ROOM_SHARE)
            try:
                if self.trade_update_reads is None:
                    raise LookupError("no orders client to read trade updates from")
                page = await self.trade_update_reads.trade_updates(session.account_id, after, limit)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                STREAM_CATCH_UPS.labels(outcome="failed").inc()
                log.warning(
                    "missed trade updates could not be read; closing the stream",
                    extra={"account_id": session.account_id, "error": repr(exc)},
                )
                session.close_with(
                    "trade_updates_unavailable",
                    f"Missed trade updates cannot be read now; reconnect and subscribe with "
                    f'"resume_after": {after} to get them.',
                )
                return
            if feed.epoch != epoch:
                continue  # the client subscribed again meanwhile; its own read is due
            if page.resumable:
                STREAM_CATCH_UPS.labels(outcome="resumed").inc()
                step = feed.backlog(
                    [
                        (update.account_sequence, trade_update_frame(update.event))
                        for update in page.updates
                    ],
                    has_more=page.has_more,
                )
            else:
                STREAM_CATCH_UPS.labels(outcome="snapshot").inc()
                frame = snapshot_frame(
                    page.last_sequence,
                    page.open_orders or [],
                    truncated=page.open_orders_truncated,
                )
                step = feed.snapshot(page.last_sequence, frame)
            for frame in step.deliver:
                kind = "snapshot" if frame.startswith('{"type":"snapshot"') else "trade_update"
                self._push(session, frame, kind)

    async def close(self) -> None:
        """Stop the reads under way (the gateway is stopping)."""
        tasks = list(self._catch_ups.values())
        self._catch_ups.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def _push(self, session: StreamSession, payload: str, kind: str) -> None:
        was_overflowed = session.overflowed
        session.push_json(payload)
        if session.overflowed and not was_overflowed:
            STREAM_SLOW_CLOSES.inc()
        STREAM_FRAMES.labels(type=kind).inc()
