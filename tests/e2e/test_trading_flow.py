"""Issue 3 end to end: quotes ingested by market-data drive fills in orders, seen everywhere."""

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


@pytest.fixture
async def trader(system: System) -> str:
    """A fresh account per test: its positions start empty."""
    return (await system.create_key(f"t-{uuid.uuid4().hex[:8]}")).secret


async def stream(system: System, key: str, **subscription: Any) -> ClientConnection:
    ws = await connect(f"ws://127.0.0.1:{system.gateway.port}/api/v1/stream")
    await ws.send(json.dumps({"action": "auth", "key": key}))
    await ws.send(json.dumps({"action": "subscribe", **subscription}))
    while json.loads(await ws.recv())["type"] != "subscription":
        pass
    return ws


async def next_frame(ws: ClientConnection, kind: str, timeout: float = 10) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            frame: dict[str, Any] = json.loads(await ws.recv())
            if frame["type"] == kind:
                return frame


async def test_resting_limit_order_fills_when_quotes_cross_and_everyone_sees_the_same_fill(
    system: System, client: httpx.AsyncClient, trader: str, events_spy: Spy
) -> None:
    ws = await stream(system, trader, trade_updates=True)
    async with ws:
        order_id = await working_limit_order(client, trader, "TSLA", "buy", "10", "250.00")
        assert (await next_frame(ws, "trade_update"))["event"] == "new"

        await ingest(system, quote("TSLA", "250.50", "251.00"))  # above the limit: rests
        await ingest(system, quote("TSLA", "249.00", "249.50"))  # crosses: fills at the ask

        filled = await order_in(client, trader, order_id, "filled")
        assert Decimal(filled["filled_qty"]) == 10
        assert Decimal(filled["filled_avg_price"]) == Decimal("249.50")

        position = (await client.get("/api/v1/positions/TSLA", headers=auth(trader))).json()
        assert Decimal(position["qty"]) == 10
        assert Decimal(position["avg_entry_price"]) == Decimal("249.50")
        listed = (await client.get("/api/v1/positions", headers=auth(trader))).json()
        assert [(p["symbol"], Decimal(p["qty"])) for p in listed["data"]] == [("TSLA", Decimal(10))]

        events = await eventually(
            lambda: asyncio.sleep(0, events_spy.events("order.filled", subject=order_id))
        )
        fill = events[0].data
        assert Decimal(fill["price"]) == Decimal("249.50")
        assert Decimal(fill["qty"]) == 10
        assert Decimal(fill["position_qty"]) == 10
        assert Decimal(fill["filled_avg_price"]) == Decimal("249.50")

        update = await next_frame(ws, "trade_update")
        assert update["event"] == "fill"
        assert update["data"]["execution_id"] == fill["execution_id"]
        assert Decimal(update["data"]["price"]) == Decimal("249.50")
        assert Decimal(update["data"]["position_qty"]) == 10


async def test_partial_fill_then_fill_with_a_volume_weighted_average(
    system: System, client: httpx.AsyncClient, trader: str
) -> None:
    ws = await stream(system, trader, trade_updates=True)
    async with ws:
        order_id = await working_limit_order(client, trader, "AMZN", "sell", "10", "180.00")
        await ingest(system, quote("AMZN", "181.00", "181.10", bid_size="4"))
        partial = await order_in(client, trader, order_id, "partially_filled")
        assert Decimal(partial["filled_qty"]) == 4
        await ingest(system, quote("AMZN", "182.00", "182.10", bid_size="50"))
        filled = await order_in(client, trader, order_id, "filled")
        # (4 x 181 + 6 x 182) / 10
        assert Decimal(filled["filled_avg_price"]) == Decimal("181.6")
        events: list[str] = []
        while len(events) < 3:
            events.append((await next_frame(ws, "trade_update"))["event"])
        assert events == ["new", "partial_fill", "fill"]
        position = (await client.get("/api/v1/positions/AMZN", headers=auth(trader))).json()
        assert Decimal(position["qty"]) == -10


async def test_latest_quotes_bars_and_the_quote_stream_agree(
    system: System, client: httpx.AsyncClient, trader: str
) -> None:
    ws = await stream(system, trader, quotes=["MSFT"])
    async with ws:
        accepted = await ingest(
            system, quote("MSFT", "420.00", "420.10"), quote("MSFT", "420.20", "420.30")
        )
        last_sequence = accepted[-1]["sequence"]
        frames = [await next_frame(ws, "quote"), await next_frame(ws, "quote")]
        assert [f["data"]["sequence"] for f in frames] == [a["sequence"] for a in accepted]

    latest = (await client.get("/api/v1/market/quotes/MSFT/latest", headers=auth(trader))).json()
    assert latest["sequence"] == last_sequence
    assert Decimal(latest["ask_price"]) == Decimal("420.30")
    assert latest["stale"] is False
    many = (
        await client.get("/api/v1/market/quotes/latest?symbols=MSFT,TSLA", headers=auth(trader))
    ).json()
    assert set(many["quotes"]) >= {"MSFT"}

    async def bar_closes() -> list[Decimal] | None:
        body = (
            await client.get("/api/v1/market/bars/MSFT?timeframe=1Min", headers=auth(trader))
        ).json()
        return [Decimal(b["c"]) for b in body["data"]] or None

    closes = await eventually(bar_closes, message="no bar written")
    assert closes[-1] == Decimal("420.25")  # the mid of the latest quote

    instruments = (await client.get("/api/v1/instruments", headers=auth(trader))).json()
    assert {i["symbol"] for i in instruments["data"]} >= {"AAPL", "MSFT", "TSLA"}
    unknown = await client.get("/api/v1/market/quotes/NOPE/latest", headers=auth(trader))
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"


async def test_replace_through_the_gateway_links_the_old_and_the_new_order(
    client: httpx.AsyncClient, trader: str
) -> None:
    old_id = await working_limit_order(client, trader, "SPY", "buy", "5", "100.00")

    replaced = await client.patch(
        f"/api/v1/orders/{old_id}", json={"qty": "7", "limit_price": "101.00"}, headers=auth(trader)
    )
    assert replaced.status_code == 202, replaced.text
    pending = replaced.json()
    new_id = pending["id"]
    assert new_id != old_id
    assert pending["replaces"] == old_id
    assert pending["status"] == "pending_new"
    assert replaced.headers["location"] == f"/api/v1/orders/{new_id}"

    old = await order_in(client, trader, old_id, "replaced")
    assert old["replaced_by"] == new_id
    new = await order_in(client, trader, new_id, "new")
    assert new["replaces"] == old_id
    assert Decimal(new["qty"]) == 7
    assert Decimal(new["limit_price"]) == Decimal("101.00")

    again = await client.patch(f"/api/v1/orders/{old_id}", json={"qty": "1"}, headers=auth(trader))
    assert again.status_code == 422
    assert again.json()["order_status"] == "replaced"
    wrong = await client.patch(
        f"/api/v1/orders/{new_id}", json={"stop_price": "99"}, headers=auth(trader)
    )
    assert wrong.status_code == 422
    assert {e["field"] for e in wrong.json()["errors"]} == {"stop_price"}


async def test_a_cancel_and_a_replace_sent_together_leave_no_order_pending(
    client: httpx.AsyncClient, trader: str
) -> None:
    """Whichever wins, the replacement's id, which the client holds from the 202, ends decided:
    replaced then canceled, or refused (rejected) after the cancel won. It never stays pending."""
    old_id, replaced = await _cancel_and_replace_together(client, trader)
    new_id = replaced.json()["id"]
    second_cancel = await client.delete(f"/api/v1/orders/{new_id}", headers=auth(trader))
    assert second_cancel.status_code in (202, 422), second_cancel.text

    async def both_decided() -> tuple[str, str] | None:
        old, new = [
            (await client.get(f"/api/v1/orders/{id_}", headers=auth(trader))).json()["status"]
            for id_ in (old_id, new_id)
        ]
        return (old, new) if "pending_new" not in (old, new) and new != "new" else None

    outcome = await eventually(both_decided, timeout=10, message="an order stayed pending")
    assert outcome in {("canceled", "rejected"), ("replaced", "canceled")}
    refused = (await client.get(f"/api/v1/orders/{new_id}", headers=auth(trader))).json()
    assert refused["replaces"] == old_id
    if outcome[1] == "rejected":
        assert refused["reject_reason"] == "replace_refused"


async def _cancel_and_replace_together(
    client: httpx.AsyncClient, trader: str, attempts: int = 10
) -> tuple[str, httpx.Response]:
    """A resting order sent a DELETE and a PATCH at once, both answered 202: the race. When
    the orders service decides one before the gateway has read the order for the other (a
    busy machine), the other is a plain 422 and no race happened: try again with a new order."""
    answers: list[tuple[int, int]] = []
    for _ in range(attempts):
        old_id = await working_limit_order(client, trader, "SPY", "buy", "5", "100.00")
        canceled, replaced = await asyncio.gather(
            client.delete(f"/api/v1/orders/{old_id}", headers=auth(trader)),
            client.patch(f"/api/v1/orders/{old_id}", json={"qty": "6"}, headers=auth(trader)),
        )
        answers.append((canceled.status_code, replaced.status_code))
        if answers[-1] == (202, 202):
            return old_id, replaced
        assert 422 in answers[-1], answers
    raise AssertionError(f"the DELETE and the PATCH never raced in {attempts} tries: {answers}")


async def test_a_notional_buy_then_a_trailing_stop_that_follows_the_bid_and_sells(
    system: System, client: httpx.AsyncClient, trader: str
) -> None:
    await ingest(system, quote("GOOGL", "150.00", "150.10"))
    bought = await client.post(
        "/api/v1/orders",
        json={"symbol": "GOOGL", "side": "buy", "type": "market", "notional": "1000"},
        headers=auth(trader),
    )
    assert bought.status_code == 202, bought.text
    assert bought.json()["qty"] is None
    # 1000 / 150.10 (or the next quote's ask) in whole lots of 1.
    filled = await order_in(client, trader, bought.json()["id"], "filled")
    assert (Decimal(filled["qty"]), Decimal(filled["notional"])) == (Decimal(6), Decimal(1000))

    inconsistent = await client.post(
        "/api/v1/orders",
        json={"symbol": "GOOGL", "side": "buy", "type": "market", "qty": "1", "notional": "5"},
        headers=auth(trader),
    )
    assert inconsistent.status_code == 422
    assert [e["field"] for e in inconsistent.json()["errors"]] == ["notional"]

    await ingest(system, quote("GOOGL", "150.00", "150.10"))
    placed = await client.post(
        "/api/v1/orders",
        json={
            "symbol": "GOOGL",
            "side": "sell",
            "type": "trailing_stop",
            "qty": "6",
            "trail_price": "1.00",
            "time_in_force": "gtc",
        },
        headers=auth(trader),
    )
    assert placed.status_code == 202, placed.text
    stop_id = placed.json()["id"]
    accepted = await order_in(client, trader, stop_id, "new")
    assert (Decimal(accepted["hwm"]), Decimal(accepted["stop_price"])) == (
        Decimal(150),
        Decimal(149),
    )

    await ingest(system, quote("GOOGL", "151.00", "151.10"))

    async def raised() -> dict[str, Any] | None:
        body: dict[str, Any] = (
            await client.get(f"/api/v1/orders/{stop_id}", headers=auth(trader))
        ).json()
        return body if Decimal(body["hwm"]) == 151 else None

    following = await eventually(raised, message="the mark never followed the bid")
    assert Decimal(following["stop_price"]) == 150
    await ingest(system, quote("GOOGL", "149.90", "150.00"))
    sold = await order_in(client, trader, stop_id, "filled")
    assert Decimal(sold["filled_avg_price"]) == Decimal("149.90")
    position = (await client.get("/api/v1/positions/GOOGL", headers=auth(trader))).json()
    assert Decimal(position["qty"]) == 0
