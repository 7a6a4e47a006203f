"""A stand-in Tradewind service: /health/ready and /metrics that a test sets at will."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
from aiohttp import web

from support.loopback_server import LoopbackServer
from support.services import free_port

# ``async with health_client(services={...}, **setting_overrides) as client:`` (see conftest).
HealthClientFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


def breaker_metrics(states: dict[str, float]) -> str:
    """A /metrics page as a Tradewind service writes it, with some unrelated metrics around."""
    lines = [
        "# HELP tradewind_http_requests_total HTTP requests served.",
        "# TYPE tradewind_http_requests_total counter",
        'tradewind_http_requests_total{method="GET",route="/health/ready",status="200"} 3.0',
        "# HELP tradewind_circuit_breaker_state Circuit breaker state.",
        "# TYPE tradewind_circuit_breaker_state gauge",
    ]
    for breaker, value in states.items():
        escaped = breaker.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        lines.append(f'tradewind_circuit_breaker_state{{breaker="{escaped}"}} {value}')
    return "\n".join(lines) + "\n"


class FakeService:
    """Answers readiness in the Tradewind format ({"status", "checks"}; 503 when down)."""

    def __init__(self, status: str = "up", checks: dict[str, Any] | None = None) -> None:
        self.status = status
        self.checks: dict[str, Any] = checks or {}
        self.metrics = breaker_metrics({})
        # While set, readiness requests wait (until released) instead of answering.
        self.hanging = False
        self._released = asyncio.Event()
        self._server: LoopbackServer | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def answer(self, status: str, checks: dict[str, Any] | None = None) -> None:
        self.status = status
        self.checks = checks or {}

    async def start(self) -> FakeService:
        app = web.Application()
        app.router.add_get("/health/ready", self._ready)
        app.router.add_get("/metrics", self._metrics)
        self.port = free_port()
        self._server = LoopbackServer(self.port)
        await self._server.start(app)
        return self

    async def stop(self) -> None:
        self._released.set()
        if self._server is not None:
            await self._server.stop()

    async def _ready(self, _: web.Request) -> web.Response:
        if self.hanging:
            await self._released.wait()
        return web.json_response(
            {"status": self.status, "checks": self.checks},
            status=503 if self.status == "down" else 200,
        )

    async def _metrics(self, _: web.Request) -> web.Response:
        return web.Response(text=self.metrics, content_type="text/plain", charset="utf-8")
