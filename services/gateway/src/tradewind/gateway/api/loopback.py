"""Serve an HTTP request with the app itself, in process: an ASGI call, no socket.

The stream's order entry uses it so that a frame gets exactly what the HTTP request would:
the same middleware (request id, body limit, admission with its rate limit and Idempotency-Key,
security headers), the same routes, dependencies and error handlers. Nothing of the HTTP path
changes or slows for it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Scope

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes


class NoAnswer(Exception):
    """The app failed before it answered (its error handlers normally answer every failure)."""


def http_scope(
    handshake: Scope, method: str, path: str, headers: list[tuple[bytes, bytes]]
) -> Scope:
    """An HTTP request's scope, from the same client and server as the WebSocket ``handshake``."""
    return {
        "type": "http",
        "asgi": handshake.get("asgi", {"version": "3.0"}),
        "http_version": "1.1",
        "method": method,
        "scheme": "https" if handshake.get("scheme") == "wss" else "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": handshake.get("root_path", ""),
        "query_string": b"",
        "headers": headers,
        "client": handshake.get("client"),
        "server": handshake.get("server"),
        # The lifespan's state, as the server gives each request a copy of it.
        "state": dict(handshake.get("state", {})),
        "extensions": {},
    }


async def call(app: ASGIApp, scope: Scope, body: bytes) -> HttpAnswer:
    status = 0
    headers: list[tuple[bytes, bytes]] = []
    chunks: list[bytes] = []
    answered = asyncio.Event()
    body_sent = False

    async def receive() -> Message:
        nonlocal body_sent
        if not body_sent:
            body_sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        # Like a client that stays connected until its answer is complete.
        await answered.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])
            headers.extend(message.get("headers", ()))
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                answered.set()

    try:
        await app(scope, receive, send)
    except Exception as exc:
        if not answered.is_set():
            raise NoAnswer(str(exc)) from exc
        # Starlette raises an error again after its handler answered it, for the server to log;
        # here this is the server.
        log.exception("error in an in-process request", extra={"path": scope["path"]})
    if not answered.is_set():
        raise NoAnswer("the app returned without a complete answer")
    return HttpAnswer(status, tuple(headers), b"".join(chunks))
