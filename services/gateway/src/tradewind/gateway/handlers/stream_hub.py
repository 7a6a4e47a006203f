"""The gateway process's one stream consumer, fanning events out to its WebSocket sessions."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from prometheus_client import Counter, Gauge

from tradewind.common.broker import Delivery
from tradewind.common.contracts.market import Quote
from tradewind.common.envelope import CloudEvent
from tradewind.gateway.adapters.stream_bindings import StreamBindings, needed_routing_keys
from tradewind.gateway.domain.stream_session import StreamSession

log = logging.getLogger(__name__)

STREAM_CLIENTS = Gauge("tradewind_stream_clients", "Connected WebSocket clients.")
STREAM_FRAMES = Counter("tradewind_stream_frames_total", "Frames queued to clients.", ["type"])
STREAM_SLOW_CLOSES = Counter(
    "tradewind_stream_slow_consumer_closes_total", "Clients closed for falling behind."
)

# Alpaca's trade_updates event names.
TRADE_EVENT_NAMES = {
    "order.accepted": "new",
    "order.rejected": "rejected",
    "order.canceled": "canceled",
    "order.cancel_rejected": "order_cancel_rejected",
    "order.partially_filled": "partial_fill",
    "order.filled": "fill",
    "order.expired": "expired",
    "order.replaced": "replaced",
    "order.replace_rejected": "order_replace_rejected",
}


def _dumps(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"), default=str)


class StreamHub:
    def __init__(self, bindings: StreamBindings | None = None) -> None:
        self.sessions: set[StreamSession] = set()
        self.bindings = bindings
        self._binding = asyncio.Lock()

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
        for session in list(self.sessions):
            if session.trade_updates and session.account_id == account_id:
                payload = payload or _dumps(
                    {
                        "type": "trade_update",
                        "event": TRADE_EVENT_NAMES[event.type],
                        "event_id": event.id,
                        "timestamp": event.time.isoformat(),
                        "data": event.data,
                    }
                )
                self._push(session, payload, "trade_update")

    def _push(self, session: StreamSession, payload: str, kind: str) -> None:
        was_overflowed = session.overflowed
        session.push_json(payload)
        if session.overflowed and not was_overflowed:
            STREAM_SLOW_CLOSES.inc()
        STREAM_FRAMES.labels(type=kind).inc()
