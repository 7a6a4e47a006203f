"""WebSocket /api/v1/stream against a running gateway and the real broker."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aio_pika
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from e2e.harness import System
from support.broker_view import queue_bindings, queue_names
from support.polling import eventually
from support.services import ServiceProcess
from support.streams import authenticated, ws_url
from tradewind.common.envelope import CloudEvent

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
async def stream_gateway(system: System) -> AsyncIterator[ServiceProcess]:
    """A gateway with short stream timings, so the tests see heartbeats and timeouts quickly."""
    gateway = system.another_gateway(
        "gateway-stream",
        TRADEWIND_GATEWAY_STREAM_AUTH_TIMEOUT_S="0.5",
        TRADEWIND_GATEWAY_STREAM_HEARTBEAT_S="0.3",
        TRADEWIND_GATEWAY_STREAM_MAX_BACKLOG="50",
    )
    await gateway.wait_ready()
    yield gateway
    gateway.stop()


@pytest.fixture(scope="module")
async def events_exchange(system: System) -> AsyncIterator[aio_pika.abc.AbstractExchange]:
    connection = await aio_pika.connect(system.infra.amqp_url)
    channel = await connection.channel(publisher_confirms=True)
    yield await channel.get_exchange(f"{system.namespace}.events")
    await connection.close()


async def publish(
    exchange: aio_pika.abc.AbstractExchange,
    event_type: str,
    data: dict[str, Any],
    *,
    routing_key: str | None = None,
    account: str | None = None,
) -> None:
    event = CloudEvent(
        id=str(uuid.uuid4()),
        source="/tests",
        type=event_type,
        time=datetime.now(UTC),
        data=data,
        accountid=account,
    )
    await exchange.publish(
        aio_pika.Message(event.to_json(), message_id=event.id, type=event.type),
        routing_key=routing_key or event_type,
    )


def quote(symbol: str, n: int) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "bid_price": "100.00",
        "bid_size": "5",
        "ask_price": "100.02",
        "ask_size": "7",
        "timestamp": datetime.now(UTC).isoformat(),
        "sequence": n,
        "source": "ingest",
    }


async def read_until_closed(ws: ClientConnection) -> tuple[list[dict[str, Any]], int | None]:
    frames: list[dict[str, Any]] = []
    try:
        while True:
            frames.append(json.loads(await asyncio.wait_for(ws.recv(), 30)))
    except ConnectionClosed as closed:
        return frames, closed.rcvd.code if closed.rcvd else None


async def test_subscribe_and_unsubscribe_are_acknowledged_with_the_full_list(
    stream_gateway: ServiceProcess, api_keys: dict[str, str]
) -> None:
    client = await authenticated(stream_gateway, api_keys["alice"])
    async with client.ws:
        await client.send(
            {"action": "subscribe", "quotes": ["aapl", "MSFT"], "trade_updates": True}
        )
        ack = await client.next("subscription")
        assert ack["quotes"] == ["AAPL", "MSFT"]
        assert ack["trade_updates"] is True
        await client.send({"action": "unsubscribe", "quotes": ["AAPL"], "trade_updates": True})
        ack = await client.next("subscription")
        assert ack["quotes"] == ["MSFT"]
        assert ack["trade_updates"] is False
        await client.send({"action": "dance"})
        error = await client.next("error")
        assert error["code"] == "invalid_message"


async def test_quotes_arrive_for_subscribed_symbols_in_order_without_gaps(
    stream_gateway: ServiceProcess,
    api_keys: dict[str, str],
    events_exchange: aio_pika.abc.AbstractExchange,
) -> None:
    client = await authenticated(stream_gateway, api_keys["alice"])
    async with client.ws:
        await client.send({"action": "subscribe", "quotes": ["WSQB"]})
        await client.next("subscription")
        for n in range(1, 21):
            await publish(
                events_exchange, "market.quote", quote("WSQA", n), routing_key="market.quote.WSQA"
            )
            await publish(
                events_exchange, "market.quote", quote("WSQB", n), routing_key="market.quote.WSQB"
            )
        received: list[int] = []
        while len(received) < 20:
            frame = await client.next("quote")
            assert frame["data"]["symbol"] == "WSQB"
            received.append(frame["data"]["sequence"])
        assert received == list(range(1, 21))
        await client.send({"action": "subscribe", "quotes": ["*"]})
        await client.next("subscription", quotes=["*", "WSQB"])
        await publish(
            events_exchange, "market.quote", quote("WSQC", 1), routing_key="market.quote.WSQC"
        )
        frame = await client.next("quote")
        assert frame["data"]["symbol"] == "WSQC"


async def test_trade_updates_reach_only_their_own_account(
    stream_gateway: ServiceProcess,
    api_keys: dict[str, str],
    events_exchange: aio_pika.abc.AbstractExchange,
) -> None:
    alice = await authenticated(stream_gateway, api_keys["alice"])
    bob = await authenticated(stream_gateway, api_keys["bob"])
    async with alice.ws, bob.ws:
        for client in (alice, bob):
            await client.send({"action": "subscribe", "trade_updates": True})
            await client.next("subscription")
        await publish(events_exchange, "order.filled", {"order": {"id": "bobs"}}, account="bob")
        await publish(events_exchange, "order.filled", {"order": {"id": "alices"}}, account="alice")
        update = await alice.next("trade_update")
        assert update["event"] == "fill"
        assert update["data"]["order"]["id"] == "alices"
        bobs = await bob.next("trade_update")
        assert bobs["data"]["order"]["id"] == "bobs"
        # Bob's next frame after his own update is a heartbeat, never Alice's order.
        await bob.next("heartbeat")
        assert all(
            f["data"]["order"]["id"] == "bobs" for f in bob.frames if f["type"] == "trade_update"
        )
        assert all(
            f["data"]["order"]["id"] == "alices"
            for f in alice.frames
            if f["type"] == "trade_update"
        )


async def test_heartbeats_keep_coming(
    stream_gateway: ServiceProcess, api_keys: dict[str, str]
) -> None:
    client = await authenticated(stream_gateway, api_keys["alice"])
    async with client.ws:
        first = await client.next("heartbeat", timeout=2)
        second = await client.next("heartbeat", timeout=2)
        assert second["seq"] > first["seq"]


async def test_a_client_that_does_not_authenticate_in_time_is_closed(
    stream_gateway: ServiceProcess,
) -> None:
    async with connect(ws_url(stream_gateway)) as ws:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert frame["code"] == "auth_timeout"
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1008


async def test_a_bad_key_is_refused(stream_gateway: ServiceProcess) -> None:
    async with connect(ws_url(stream_gateway)) as ws:
        await ws.send(json.dumps({"action": "auth", "key": "tw_wrong"}))
        frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert frame["code"] == "unauthorized"


async def test_a_slow_client_gets_an_error_frame_and_is_closed(
    stream_gateway: ServiceProcess,
    api_keys: dict[str, str],
    events_exchange: aio_pika.abc.AbstractExchange,
) -> None:
    # A client that stops reading: its socket buffers fill, the gateway's send blocks, and its
    # bounded backlog (50 here) overflows.
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", stream_gateway.port))
    sock.setblocking(False)
    # No compression: the padding below must really occupy the socket buffers.
    async with connect(ws_url(stream_gateway), sock=sock, max_queue=1, compression=None) as ws:
        await ws.send(json.dumps({"action": "auth", "key": api_keys["alice"]}))
        await ws.send(json.dumps({"action": "subscribe", "quotes": ["WSQD"]}))
        padding = "x" * 20_000  # 1,000 frames of 20 kB: 20 MB, far beyond any socket buffer
        for n in range(1, 1_001):
            await publish(
                events_exchange,
                "market.quote",
                quote("WSQD", n) | {"padding": padding},
                routing_key="market.quote.WSQD",
            )
        frames, close_code = await read_until_closed(ws)
        assert frames[-1]["type"] == "error"
        assert frames[-1]["code"] == "slow_consumer"
        seqs = [f["seq"] for f in frames]
        assert seqs == list(range(1, len(seqs) + 1))
        assert len([f for f in frames if f["type"] == "quote"]) < 1_000
        assert close_code == 1013


async def test_the_stream_queue_is_bound_only_while_clients_subscribe(
    system: System, api_keys: dict[str, str]
) -> None:
    prefix = f"{system.namespace}.gateway.stream."
    others = await queue_names(system.infra, prefix)
    gateway = system.another_gateway("gateway-bindings")
    try:
        await gateway.wait_ready()
        (queue,) = await queue_names(system.infra, prefix) - others
        exchange = f"{system.namespace}.events"

        async def bound() -> set[str]:
            return await queue_bindings(system.infra, exchange, queue)

        assert await bound() == set(), "no client, no events for this gateway"
        client = await authenticated(gateway, api_keys["alice"])
        async with client.ws:
            await client.send({"action": "subscribe", "quotes": ["AAPL"]})
            await client.next("subscription")
            assert await bound() == {"market.quote.*"}, "bound before the acknowledgement"
            await client.send({"action": "subscribe", "trade_updates": True})
            await client.next("subscription")
            assert await bound() == {"market.quote.*", "order.*"}
            await client.send({"action": "unsubscribe", "quotes": ["AAPL"]})
            await client.next("subscription")
            assert await bound() == {"order.*"}

        async def nothing_bound() -> bool:
            return await bound() == set()

        await eventually(nothing_bound, message="the bindings outlived the last client")
    finally:
        gateway.stop()
