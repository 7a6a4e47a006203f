"""Open-loop load in a process of its own: POST a place order at a fixed rate, then print, as
JSON, when each accepted order's request started and when its 202 arrived (time.perf_counter:
CLOCK_MONOTONIC, the same clock in every process of the machine). The benchmark's consumer notes
when each order's event arrives on that clock; the load it makes does not delay what it measures.

    python bench/open_loop.py URL KEY --rate 300 --seconds 10

The load generator shares the machine's two cores with what it measures, so it is lean: uvloop,
keep-alive HTTP/1.1 connections on asyncio protocols, the request encoded once, one request at a
time on a connection (a connection is opened when every open one is busy, as a pooling client
does). With aiohttp it cost 1.4 ms of CPU per order at 300/s, more than the gateway it loaded;
this client costs a fraction of that (the saturation benchmark reports it as "load generator").
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import cast
from urllib.parse import urlsplit

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadgen import ORDER, fixed_rate


class HttpConnection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection: a request at a time, answers framed by Content-Length."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.answer: asyncio.Future[tuple[int, bytes]] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.answer is not None and not self.answer.done():
            self.answer.set_exception(exc or ConnectionError("the server closed the connection"))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        head_end = self.buffer.find(b"\r\n\r\n")
        if head_end < 0 or self.answer is None:
            return
        head = bytes(self.buffer[:head_end]).split(b"\r\n")
        status = int(head[0].split(b" ", 2)[1])
        length = next(
            int(line.split(b":", 1)[1])
            for line in head[1:]
            if line[:15].lower() == b"content-length:"
        )
        body_start = head_end + 4
        if len(self.buffer) < body_start + length:
            return
        body = bytes(self.buffer[body_start : body_start + length])
        del self.buffer[: body_start + length]
        answer, self.answer = self.answer, None
        answer.set_result((status, body))

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        assert self.transport is not None
        self.answer = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self.answer


async def load(url: str, key: str, rate: float, seconds: float) -> dict[str, tuple[float, float]]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    body = json.dumps(ORDER).encode()
    request = (
        f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    loop = asyncio.get_running_loop()
    idle: list[HttpConnection] = []
    timings: dict[str, tuple[float, float]] = {}

    async def fire(_index: int) -> None:
        started = time.perf_counter()
        while idle and idle[-1].closed:
            idle.pop()
        if idle:
            connection = idle.pop()
        else:
            _, connection = await loop.create_connection(HttpConnection, host, port)
        status, answer = await connection.exchange(request)
        if status == 202:
            timings[json.loads(answer)["id"]] = (started, time.perf_counter())
        idle.append(connection)

    await fixed_rate(rate, seconds, fire)
    for connection in idle:
        if connection.transport is not None:
            connection.transport.close()
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("key")
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    args = parser.parse_args()
    timings = uvloop.run(load(args.url, args.key, args.rate, args.seconds))
    sys.stdout.write(json.dumps(timings))


if __name__ == "__main__":
    main()
