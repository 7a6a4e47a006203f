"""A partner's webhook endpoint on loopback: records every delivery, answers 204 at once."""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from support.loopback_server import LoopbackServer
from support.services import free_port


@dataclass(frozen=True)
class ReceivedWebhook:
    webhook_id: str
    account: str
    event_type: str
    order_id: str | None
    received_at: float


@dataclass
class WebhookReceiver:
    """One URL per account (``/hook/<account>``), so each drill's endpoint is told apart."""

    port: int = field(default_factory=free_port)
    received: list[ReceivedWebhook] = field(default_factory=list)
    _server: LoopbackServer | None = None

    def url_for(self, account: str) -> str:
        return f"http://127.0.0.1:{self.port}/hook/{account}"

    async def start(self) -> WebhookReceiver:
        app = web.Application()
        app.router.add_post("/hook/{account}", self._handle)
        self._server = LoopbackServer(self.port)
        await self._server.start(app)
        return self

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop()

    async def _handle(self, request: web.Request) -> web.Response:
        body: dict[str, Any] = json.loads(await request.read())
        data = body.get("data") or {}
        order = data.get("order") if isinstance(data, dict) else None
        self.received.append(
            ReceivedWebhook(
                webhook_id=request.headers.get("webhook-id", ""),
                account=request.match_info["account"],
                event_type=str(body.get("type")),
                order_id=str(order["id"]) if isinstance(order, dict) else None,
                received_at=time.monotonic(),
            )
        )
        return web.Response(status=204)

    def times_received(self, account: str) -> Counter[str]:
        """webhook-id -> how often it arrived for ``account`` (at-least-once: may be > 1)."""
        return Counter(hook.webhook_id for hook in self.received if hook.account == account)

    def has(self, account: str, event_type: str, order_id: str) -> bool:
        return any(
            hook.account == account and hook.event_type == event_type and hook.order_id == order_id
            for hook in self.received
        )
