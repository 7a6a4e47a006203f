"""DELETE /api/v1/orders cancels every open order; DELETE /api/v1/positions closes every position.

Both answer 207 with one result per order, act on the caller's account only, and a retry under
the same Idempotency-Key closes nothing twice.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from e2e.harness import Spy, System, auth
from e2e.trading import ingest, order_in, quote, working_limit_order
from support.polling import eventually

pytestmark = pytest.mark.e2e


async def new_trader(system: System) -> str:
    return (await system.create_key(f"bulk-{uuid.uuid4().hex[:8]}")).secret


async def test_cancel_all_cancels_every_open_order_of_the_account_and_only_those(
    system: System, client: httpx.AsyncClient
) -> None:
    trader, neighbour = await new_trader(system), await new_trader(system)
    working = [
        await working_limit_order(client, trader, symbol, "buy", "2", "1.00")
        for symbol in ("SPY", "SPY", "MSFT")
    ]
    already_canceled = await working_limit_order(client, trader, "SPY", "buy", "1", "1.00")
    assert (
        await client.delete(f"/api/v1/orders/{already_canceled}", headers=auth(trader))
    ).status_code == 202
    await order_in(client, trader, already_canceled, "canceled")
    untouched = await working_limit_order(client, neighbour, "SPY", "buy", "1", "1.00")

    answer = await client.delete("/api/v1/orders", headers=auth(trader))

    assert answer.status_code == 207, answer.text
    results: list[dict[str, Any]] = answer.json()
    assert sorted(result["id"] for result in results) == sorted(working)
    assert {result["status"] for result in results} == {202}
    assert {result["body"]["status"] for result in results} == {"new"}
    for order_id in working:
        await order_in(client, trader, order_id, "canceled")
    neighbours = await client.get(f"/api/v1/orders/{untouched}", headers=auth(neighbour))
    assert neighbours.json()["status"] == "new"

    again = await client.delete("/api/v1/orders", headers=auth(trader))
    assert (again.status_code, again.json()) == (207, [])


async def test_close_all_flattens_longs_and_shorts_once_however_often_it_is_retried(
    system: System, client: httpx.AsyncClient
) -> None:
    trader = await new_trader(system)
    await ingest(system, quote("GOOGL", "170.00", "170.10"), quote("AAPL", "190.00", "190.10"))
    opening = []
    for symbol, side, qty in (("GOOGL", "buy", "3"), ("AAPL", "sell", "2")):
        placed = await client.post(
            "/api/v1/orders",
            json={"symbol": symbol, "side": side, "type": "market", "qty": qty},
            headers=auth(trader),
        )
        assert placed.status_code == 202, placed.text
        opening.append(placed.json()["id"])
    # Filled on arrival, or, on a busy machine where that quote went stale first, by this one.
    await ingest(system, quote("GOOGL", "170.00", "170.10"), quote("AAPL", "190.00", "190.10"))
    for order_id in opening:
        await order_in(client, trader, order_id, "filled")
    assert await positions(client, trader) == {"GOOGL": Decimal(3), "AAPL": Decimal(-2)}

    headers = {**auth(trader), "Idempotency-Key": f'"{uuid.uuid4().hex}"'}
    answer = await client.delete("/api/v1/positions", headers=headers)

    assert answer.status_code == 207, answer.text
    closing = {result["symbol"]: result for result in answer.json()}
    assert {symbol: result["status"] for symbol, result in closing.items()} == {
        "GOOGL": 202,
        "AAPL": 202,
    }
    assert [(closing[s]["body"]["side"], closing[s]["body"]["qty"]) for s in ("GOOGL", "AAPL")] == [
        ("sell", "3"),
        ("buy", "2"),
    ]
    await ingest(system, quote("GOOGL", "171.00", "171.10"), quote("AAPL", "191.00", "191.10"))
    await eventually(lambda: _flat(client, trader), timeout=10, message="positions never flat")

    retried = await client.delete("/api/v1/positions", headers=headers)
    assert (retried.status_code, retried.json()) == (207, answer.json())
    await ingest(system, quote("GOOGL", "171.00", "171.20"), quote("AAPL", "191.00", "191.20"))
    for result in closing.values():
        await order_in(client, trader, result["body"]["id"], "filled")
    assert await positions(client, trader) == {}, "a retry must not close twice"


async def positions(client: httpx.AsyncClient, key: str) -> dict[str, Decimal]:
    listed = (await client.get("/api/v1/positions", headers=auth(key))).json()
    return {position["symbol"]: Decimal(position["qty"]) for position in listed["data"]}


async def _flat(client: httpx.AsyncClient, key: str) -> bool:
    return await positions(client, key) == {}  # flat positions are not listed


async def stream_session(system: System, key: str) -> ClientConnection:
    ws = await connect(f"ws://127.0.0.1:{system.gateway.port}/api/v1/stream")
    await ws.send(json.dumps({"action": "auth", "key": key}))
    assert (await next_frame(ws))["type"] == "authenticated"
    return ws


async def next_frame(ws: ClientConnection) -> dict[str, Any]:
    """The next frame that is not a heartbeat."""
    async with asyncio.timeout(10):
        while True:
            frame: dict[str, Any] = json.loads(await ws.recv())
            if frame["type"] != "heartbeat":
                return frame


async def test_a_dropped_stream_that_opted_in_cancels_the_accounts_open_orders(
    system: System, client: httpx.AsyncClient
) -> None:
    trader = await new_trader(system)
    working = [
        await working_limit_order(client, trader, symbol, "buy", "1", "1.00")
        for symbol in ("SPY", "MSFT")
    ]
    ws = await stream_session(system, trader)
    await ws.send(json.dumps({"action": "cancel_on_disconnect", "enabled": True}))
    assert await next_frame(ws) == {"seq": 2, "type": "cancel_on_disconnect", "enabled": True}

    ws.transport.abort()  # the network drops: no close frame

    for order_id in working:
        await order_in(client, trader, order_id, "canceled")


async def test_a_stream_that_opted_out_again_or_never_opted_in_cancels_nothing(
    system: System, client: httpx.AsyncClient, commands_spy: Spy
) -> None:
    trader = await new_trader(system)
    order_id = await working_limit_order(client, trader, "SPY", "buy", "1", "1.00")
    opted_out = await stream_session(system, trader)
    await opted_out.send(json.dumps({"action": "cancel_on_disconnect", "enabled": True}))
    await opted_out.send(json.dumps({"action": "cancel_on_disconnect", "enabled": False}))
    assert (await next_frame(opted_out))["enabled"] is True
    assert (await next_frame(opted_out))["enabled"] is False
    never = await stream_session(system, trader)
    await opted_out.close()
    await never.close()
    # Then one that cancels: the cancels on the commands exchange are its one, and no other.
    opted_in = await stream_session(system, trader)
    await opted_in.send(json.dumps({"action": "cancel_on_disconnect", "enabled": True}))
    assert (await next_frame(opted_in))["enabled"] is True
    await opted_in.close()
    await order_in(client, trader, order_id, "canceled")
    cancels = await eventually(
        lambda: asyncio.sleep(0, commands_spy.events("orders.cancel", subject=order_id))
    )
    assert len(cancels) == 1, cancels


async def test_cancel_on_disconnect_needs_a_key_that_may_cancel(system: System) -> None:
    reader = (
        await system.create_key(
            f"bulk-{uuid.uuid4().hex[:8]}", frozenset({"stream", "orders:read"})
        )
    ).secret
    ws = await stream_session(system, reader)
    await ws.send(json.dumps({"action": "cancel_on_disconnect", "enabled": True}))
    refused = await next_frame(ws)
    assert (refused["type"], refused["code"]) == ("error", "forbidden")
    await ws.close()
