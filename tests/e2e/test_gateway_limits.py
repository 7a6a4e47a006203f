"""The gateway's limits on a real server: header size, WebSocket frames, subscriptions and
connections per key, metrics off the public port, a quiet close before authentication."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from e2e.harness import System
from support.polling import eventually
from support.services import ServiceProcess, free_port
from support.streams import Client, authenticated, ws_url

pytestmark = pytest.mark.e2e

MAX_HEADER_BYTES = 4_096
MAX_FRAME_BYTES = 2_048
MAX_SUBSCRIPTIONS = 3
MAX_CONNECTIONS_PER_KEY = 2
MAX_MESSAGES_PER_S = 20  # bursts of 40


@dataclass
class LimitedGateway:
    process: ServiceProcess
    metrics_port: int

    @property
    def url(self) -> str:
        return self.process.url


@pytest.fixture(scope="module")
async def limited(system: System) -> AsyncIterator[LimitedGateway]:
    metrics_port = free_port()
    gateway = system.another_gateway(
        "gateway-limits",
        TRADEWIND_MAX_HEADER_BYTES=str(MAX_HEADER_BYTES),
        TRADEWIND_GATEWAY_STREAM_MAX_FRAME_BYTES=str(MAX_FRAME_BYTES),
        TRADEWIND_GATEWAY_STREAM_MAX_SUBSCRIPTIONS=str(MAX_SUBSCRIPTIONS),
        TRADEWIND_GATEWAY_STREAM_MAX_CONNECTIONS_PER_KEY=str(MAX_CONNECTIONS_PER_KEY),
        TRADEWIND_GATEWAY_STREAM_MAX_MESSAGES_PER_S=str(MAX_MESSAGES_PER_S),
        TRADEWIND_GATEWAY_METRICS_PORT=str(metrics_port),
    )
    await gateway.wait_ready()
    yield LimitedGateway(gateway, metrics_port)
    gateway.stop()


async def fresh_key(system: System) -> str:
    return (await system.create_key("limits")).secret


async def test_headers_over_the_limit_are_a_431_problem(limited: LimitedGateway) -> None:
    async with httpx.AsyncClient(base_url=limited.url) as client:
        small = await client.get("/health/live", headers={"x-pad": "a" * 1_000})
        large = await client.get("/health/live", headers={"x-pad": "a" * MAX_HEADER_BYTES})
    assert small.status_code == 200
    assert large.status_code == 431
    assert large.headers["content-type"] == "application/problem+json"
    assert large.json()["type"] == "urn:tradewind:problem:headers-too-large"


def _send_endless_head(port: int, size: int) -> bytes:
    """A request head that never ends, ``size`` bytes of it; what the server answers."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: t\r\nX-Pad: " + b"a" * size)
        answer = b""
        while chunk := sock.recv(65_536):
            answer += chunk
        return answer


async def test_a_head_growing_past_the_limit_is_cut_off_before_it_ends(
    limited: LimitedGateway,
) -> None:
    # The head never completes, so the app never sees it: the server itself must stop reading.
    answer = await asyncio.to_thread(_send_endless_head, limited.process.port, 64_000)
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert b"headers-too-large" in answer
    async with httpx.AsyncClient(base_url=limited.url) as client:
        assert (await client.get("/health/live")).status_code == 200


def _post_in_one_write(port: int, body: bytes) -> bytes:
    """A small head and a large body sent in one write, as clients do: what the server answers."""
    head = (
        b"POST /api/v1/orders HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b"Connection: close\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head + body)
        answer = b""
        while chunk := sock.recv(65_536):
            answer += chunk
        return answer


async def test_a_large_body_read_with_its_head_is_not_taken_for_a_large_head(
    limited: LimitedGateway,
) -> None:
    # 200 KB: far over the head limit, under the body limit; no key, so the answer is a 401.
    body = json.dumps({"pad": "a" * 200_000}).encode()
    answer = await asyncio.to_thread(_post_in_one_write, limited.process.port, body)
    assert answer.startswith(b"HTTP/1.1 401 "), answer[:200]


async def test_metrics_are_served_on_their_own_port_only(limited: LimitedGateway) -> None:
    async with httpx.AsyncClient() as client:
        public = await client.get(f"{limited.url}/metrics")
        private = await client.get(f"http://127.0.0.1:{limited.metrics_port}/metrics")
    assert public.status_code == 404
    assert private.status_code == 200
    assert "tradewind_http_requests_total" in private.text


async def test_a_frame_over_the_limit_closes_the_stream_with_1009(
    limited: LimitedGateway, system: System
) -> None:
    client = await authenticated(limited.process, await fresh_key(system))
    async with client.ws:
        await client.ws.send(json.dumps({"action": "subscribe", "quotes": ["A" * MAX_FRAME_BYTES]}))
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(client.ws.recv(), 10)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1009


async def test_subscriptions_over_the_limit_are_refused_with_an_error_frame(
    limited: LimitedGateway, system: System
) -> None:
    client = await authenticated(limited.process, await fresh_key(system))
    async with client.ws:
        await client.send({"action": "subscribe", "quotes": ["LIMA", "LIMB", "LIMC"]})
        await client.next("subscription", quotes=["LIMA", "LIMB", "LIMC"])
        await client.send({"action": "subscribe", "quotes": ["LIMD"]})
        error = await client.next("error")
        assert error["code"] == "too_many_subscriptions"
        # Nothing changed: making room allows the next one.
        await client.send({"action": "unsubscribe", "quotes": ["LIMA"]})
        await client.next("subscription", quotes=["LIMB", "LIMC"])
        await client.send({"action": "subscribe", "quotes": ["LIMD"]})
        await client.next("subscription", quotes=["LIMB", "LIMC", "LIMD"])


async def test_a_client_sending_faster_than_its_message_rate_is_read_more_slowly(
    limited: LimitedGateway, system: System
) -> None:
    client = await authenticated(limited.process, await fresh_key(system))
    async with client.ws:
        # 60 messages at once: a burst of 40 served at once, 20 more at 20 a second.
        started = time.monotonic()
        for n in range(60):
            await client.send({"action": "dance", "n": n})
        for _ in range(60):
            await client.next("error")
        assert time.monotonic() - started >= 0.9


async def test_connections_per_key_over_the_limit_are_refused(
    limited: LimitedGateway, system: System
) -> None:
    key = await fresh_key(system)
    held = [await authenticated(limited.process, key) for _ in range(MAX_CONNECTIONS_PER_KEY)]
    async with connect(ws_url(limited.process)) as ws:
        await ws.send(json.dumps({"action": "auth", "key": key}))
        frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert frame["code"] == "too_many_connections"
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1008
    await held[0].ws.close()

    async def admitted_again() -> Client | None:
        async with connect(ws_url(limited.process)) as ws:
            await ws.send(json.dumps({"action": "auth", "key": key}))
            frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
            return Client(ws) if frame["type"] == "authenticated" else None

    await eventually(admitted_again, message="a freed connection slot was never reused")
    for client in held[1:]:
        await client.ws.close()


async def test_a_client_leaving_before_authenticating_logs_no_error(
    limited: LimitedGateway,
) -> None:
    async with connect(ws_url(limited.process)):
        pass  # connected, then gone without a word

    def log_lines() -> list[dict[str, object]]:
        text = limited.process.log_path.read_text(errors="replace")
        return [json.loads(line) for line in text.splitlines() if line.startswith("{")]

    async def noted() -> bool:
        return any(
            line.get("message") == "stream client left before authenticating"
            for line in log_lines()
        )

    await eventually(noted, message="the early close was never noted")
    errors = [line for line in log_lines() if line.get("level") in {"error", "critical"}]
    assert errors == []
