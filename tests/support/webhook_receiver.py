"""A partner's webhook endpoint on loopback: records every delivery it receives, answers 204."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web

from support.loopback_server import LoopbackServer
from support.services import free_port


class WebhookReceiver:
    """Deliveries to ``url``, in arrival order, as (headers, raw body)."""

    def __init__(self) -> None:
        self.deliveries: list[tuple[dict[str, str], bytes]] = []
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def handle(self, request: web.Request) -> web.Response:
        self.deliveries.append((dict(request.headers), await request.read()))
        return web.Response(status=204)

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.deliveries]

    def order_ids(self) -> set[str]:
        """The orders the received order events are about."""
        return {body["data"]["order"]["id"] for body in self.bodies()}


@asynccontextmanager
async def serving_webhook_receiver() -> AsyncIterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    server = LoopbackServer(receiver.port)
    await server.start(app)
    try:
        yield receiver
    finally:
        await server.stop()
