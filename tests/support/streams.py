"""A WebSocket client of the gateway's /api/v1/stream, for tests of running gateways."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from support.services import ServiceProcess


def ws_url(gateway: ServiceProcess) -> str:
    return f"ws://127.0.0.1:{gateway.port}/api/v1/stream"


class Client:
    """A stream client that records every frame and checks sequence numbers as they arrive."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def next(self, kind: str, timeout: float = 5.0, **match: Any) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {kind} frame matching {match} within {timeout}s")
            frame: dict[str, Any] = json.loads(await asyncio.wait_for(self.ws.recv(), remaining))
            if self.frames:
                assert frame["seq"] == self.frames[-1]["seq"] + 1, "gap in sequence numbers"
            self.frames.append(frame)
            if frame["type"] == kind and all(frame.get(k) == v for k, v in match.items()):
                return frame


async def authenticated(gateway: ServiceProcess, key: str) -> Client:
    ws = await connect(ws_url(gateway))
    client = Client(ws)
    await client.send({"action": "auth", "key": key})
    frame = await client.next("authenticated")
    assert frame["seq"] == 1
    return client


@dataclass(frozen=True)
class Refusal:
    """What a refused stream was told: its error frame's code and the close code."""

    code: str
    close_code: int | None


async def attempt(gateway: ServiceProcess, key: str) -> Client | Refusal:
    """Open a stream with ``key``: the client if authenticated, else what refused it."""
    ws = await connect(ws_url(gateway))
    await ws.send(json.dumps({"action": "auth", "key": key}))
    try:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
    except BaseException:
        await ws.close()
        raise
    if frame["type"] == "authenticated":
        client = Client(ws)
        client.frames.append(frame)
        return client
    try:
        await asyncio.wait_for(ws.recv(), 5)
    except ConnectionClosed as closed:
        return Refusal(str(frame.get("code")), closed.rcvd.code if closed.rcvd else None)
    await ws.close()
    raise AssertionError(f"a refused stream stayed open after {frame}")
