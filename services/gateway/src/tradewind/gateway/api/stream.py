"""WebSocket /api/v1/stream: quotes and the account's own trade updates, in real time.

Protocol (JSON text frames):
  client → {"action": "auth", "key": "<api key>"}   (or an Authorization header at the handshake)
  client → {"action": "subscribe" | "unsubscribe", "quotes": ["AAPL", "*"], "trade_updates": true}
  client → {"action": "subscribe", "trade_updates": true, "resume_after": <last account_sequence>}
  client → {"action": "cancel_on_disconnect", "enabled": true}   (a key with orders:write)
  client → {"action": "place_order" | "cancel_order" | "replace_order", "request_id": ..., ...}
  server → {"seq": n, "type": "authenticated" | "subscription" | "quote" | "trade_update"
            | "snapshot" | "cancel_on_disconnect" | "order_response" | "heartbeat" | "error", ...}
Every server frame carries the connection's sequence number, increasing by one, without gaps.
A trade_update also carries its account_sequence (the account's, across connections): a client
that resumes after one gets every update after it, then live ones, each once and in order; or,
if those are no longer kept, a snapshot of the account's open orders and its account_sequence
(domain/stream_resume.py, docs/api.md).
Order entry (place, cancel, replace, answered as HTTP answers them) is ``api.stream_orders``.

Cancel on disconnect (opt-in, per connection): when a connection that enabled it ends, however
it ends (the client closes it, the network drops it, the gateway stops), the gateway sends a
cancel for every open order of the account, as DELETE /api/v1/orders does. A gateway process
that dies without running its shutdown cannot; a client that must not be left exposed then
also needs the kill switch or its own watchdog.

Limits (settings): a client message over ``stream_max_frame_bytes`` closes the stream with 1009
(uvicorn enforces it); a subscribe that would hold more than ``stream_max_subscriptions`` quote
symbols is refused with an error frame; a key already holding ``stream_max_connections_per_key``
streams, on all gateways together, is refused (error frame, close 1008; ``adapters.stream_limits``).
Messages beyond ``stream_max_messages_per_s`` (in bursts of up to twice as many) wait their turn:
the connection is read no faster (``domain.message_rate``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from starlette.websockets import WebSocketState

from tradewind.common.broker import BrokerUnavailable
from tradewind.common.contracts.types import SymbolInput
from tradewind.gateway.api.bulk import cancel_open_orders
from tradewind.gateway.api.stream_orders import OrderEntry
from tradewind.gateway.bootstrap import GatewayRuntime
from tradewind.gateway.domain.auth_model import Principal
from tradewind.gateway.domain.message_rate import MessageRate
from tradewind.gateway.domain.order_frames import is_order_frame
from tradewind.gateway.domain.stream_session import StreamSession
from tradewind.gateway.handlers.api_keys import ApiKeyStore
from tradewind.gateway.handlers.stream_hub import StreamHub

log = logging.getLogger(__name__)
router = APIRouter()

POLICY_VIOLATION = 1008
TRY_AGAIN_LATER = 1013


class SubscriptionChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: str = Field(pattern="^(subscribe|unsubscribe)$")
    # A symbol becomes part of a routing key: '#' or another AMQP wildcard must not get there.
    quotes: list[Literal["*"] | SymbolInput] = Field(default_factory=list, max_length=500)
    trade_updates: bool | None = None
    resume_after: int | None = Field(default=None, ge=0, le=2**63 - 1)

    @model_validator(mode="after")
    def _resume_with_trade_updates(self) -> SubscriptionChange:
        if self.resume_after is not None and (
            self.action != "subscribe" or self.trade_updates is not True
        ):
            raise ValueError('resume_after goes with "subscribe" and "trade_updates": true')
        return self


class CancelOnDisconnectChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["cancel_on_disconnect"]
    enabled: bool


async def _close(ws: WebSocket, code: int, error: str, message: str) -> None:
    if ws.application_state == WebSocketState.CONNECTED:
        with contextlib.suppress(Exception):
            await ws.send_text(json.dumps({"type": "error", "code": error, "message": message}))
            await ws.close(code)


async def _authenticate(
    ws: WebSocket, keys: ApiKeyStore, timeout_s: float
) -> tuple[Principal, str] | None:
    """The principal and the credential it was authenticated with (order entry sends it again)."""
    header = ws.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        try:
            async with asyncio.timeout(timeout_s):
                first = json.loads(await ws.receive_text())
        except WebSocketDisconnect as gone:
            # A client may leave at any time; before authenticating, that is no error of ours.
            log.info("stream client left before authenticating", extra={"close_code": gone.code})
            return None
        except TimeoutError:
            await _close(ws, POLICY_VIOLATION, "auth_timeout", "Authenticate within the time.")
            return None
        except (json.JSONDecodeError, KeyError):
            first = {}
        if not isinstance(first, dict) or first.get("action") != "auth":
            await _close(
                ws, POLICY_VIOLATION, "auth_required", 'Send {"action": "auth", "key": ...}'
            )
            return None
        token = str(first.get("key", ""))
    principal = await keys.authenticate(token.strip())
    if principal is None or "stream" not in principal.scopes:
        await _close(ws, POLICY_VIOLATION, "unauthorized", "The API key is not valid for streams.")
        return None
    return principal, token.strip()


async def _send_frames(ws: WebSocket, session: StreamSession) -> None:
    while (frame := await session.next_frame()) is not None:
        await ws.send_text(frame)
    await ws.close(TRY_AGAIN_LATER)


async def _heartbeats(session: StreamSession, interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        session.push({"type": "heartbeat", "time": datetime.now(UTC).isoformat()})


def _normalise(symbols: list[str]) -> list[str]:
    return [s.strip().upper() for s in symbols if s.strip()]


async def _receive_commands(
    ws: WebSocket,
    session: StreamSession,
    hub: StreamHub,
    principal: Principal,
    max_subscriptions: int,
    order_entry: OrderEntry,
    pace: MessageRate,
) -> None:
    while True:
        raw = await ws.receive_text()
        if (wait_s := pace.delay(time.monotonic())) > 0:
            await asyncio.sleep(wait_s)
        try:
            message: Any = json.loads(raw)
            if is_order_frame(message):
                await order_entry.handle(message)
                continue
            if isinstance(message, dict) and message.get("action") == "cancel_on_disconnect":
                _change_cancel_on_disconnect(
                    session, principal, CancelOnDisconnectChange.model_validate(message)
                )
                continue
            change = SubscriptionChange.model_validate(message)
        except (json.JSONDecodeError, ValidationError) as exc:
            session.push({"type": "error", "code": "invalid_message", "message": str(exc)[:500]})
            continue
        quotes = _normalise(change.quotes)
        if change.action == "subscribe":
            wanted = len(session.quote_symbols | set(quotes))
            if wanted > max_subscriptions:
                session.push(
                    {
                        "type": "error",
                        "code": "too_many_subscriptions",
                        "message": f"At most {max_subscriptions} quote subscriptions per stream; "
                        f"this change would hold {wanted}. Nothing was changed.",
                    }
                )
                continue
        before = (set(session.quote_symbols), session.trade_updates)
        if change.action == "subscribe":
            session.subscribe(quotes, change.trade_updates, change.resume_after)
        else:
            session.unsubscribe(quotes, change.trade_updates)
        try:
            await hub.follow_subscriptions()
        except BrokerUnavailable:
            # Acknowledging a subscription the gateway cannot serve would be a broken promise.
            session.quote_symbols, session.trade_updates = before
            session.push(
                {
                    "type": "error",
                    "code": "unavailable",
                    "message": "The subscription could not be changed now; try again shortly.",
                }
            )
            continue
        session.push(session.subscription())
        hub.catch_up(session)  # a resume's missed updates come after its acknowledgement


def _change_cancel_on_disconnect(
    session: StreamSession, principal: Principal, change: CancelOnDisconnectChange
) -> None:
    if change.enabled and "orders:write" not in principal.scopes:
        session.push(
            {
                "type": "error",
                "code": "forbidden",
                "message": "Cancel on disconnect cancels orders: it needs a key with orders:write.",
            }
        )
        return
    session.cancel_on_disconnect = change.enabled
    session.push({"type": "cancel_on_disconnect", "enabled": change.enabled})


async def _cancel_open_orders(runtime: GatewayRuntime, account_id: str) -> None:
    try:
        results = await cancel_open_orders(runtime.broker, runtime.order_reads, account_id)
    except Exception:
        log.exception("cancel on disconnect failed", extra={"account_id": account_id})
        return
    failed = sum(1 for result in results if result.status != 202)
    log.log(
        logging.WARNING if failed else logging.INFO,
        "cancel on disconnect sent",
        extra={"account_id": account_id, "orders": len(results), "failed": failed},
    )


@router.websocket("/api/v1/stream")
async def stream(ws: WebSocket) -> None:
    runtime: GatewayRuntime = ws.app.state.runtime
    settings = runtime.settings
    await ws.accept()
    authenticated = await _authenticate(ws, runtime.api_keys, settings.stream_auth_timeout_s)
    if authenticated is None:
        return
    principal, credential = authenticated
    connections = runtime.stream_connections
    slot = await connections.acquire(principal.account_id, principal.key_id)
    if slot is None:
        log.info("stream refused: key at its connection limit", extra={"key_id": principal.key_id})
        await _close(
            ws,
            POLICY_VIOLATION,
            "too_many_connections",
            f"At most {connections.limit} open streams per API key.",
        )
        return
    try:
        await _serve(ws, runtime, principal, credential)
    finally:
        await connections.release(slot)


async def _serve(
    ws: WebSocket, runtime: GatewayRuntime, principal: Principal, credential: str
) -> None:
    settings, hub = runtime.settings, runtime.stream_hub
    session = StreamSession(principal.account_id, settings.stream_max_backlog)
    order_entry = OrderEntry(ws.app, ws.scope, credential, session)
    per_second = settings.stream_max_messages_per_s
    pace = MessageRate(per_second, max(1, int(2 * per_second)), time.monotonic())
    session.push({"type": "authenticated", "account_id": principal.account_id})
    hub.add(session)
    tasks = [
        asyncio.create_task(_send_frames(ws, session)),
        asyncio.create_task(_heartbeats(session, settings.stream_heartbeat_s)),
        asyncio.create_task(
            _receive_commands(
                ws,
                session,
                hub,
                principal,
                settings.stream_max_subscriptions,
                order_entry,
                pace,
            )
        ),
    ]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        hub.remove(session)
        try:
            await hub.follow_subscriptions()
        except BrokerUnavailable:
            log.warning("stream bindings not narrowed after a client left; next change will")
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, Exception):
                await task
        if ws.application_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await ws.close()
        if session.cancel_on_disconnect:
            await _cancel_open_orders(runtime, principal.account_id)
