"""Order entry on /api/v1/stream: place, replace and cancel answered exactly as over HTTP."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from e2e.harness import System, auth
from e2e.trading import ingest, quote
from support.polling import eventually
from support.streams import Client, authenticated
from tradewind.gateway.domain.auth_model import DEFAULT_SCOPES
from tradewind.gateway.domain.rate_limits import Budget

pytestmark = pytest.mark.e2e

FILLS_AT_THE_ASK = {
    "symbol": "SPY",
    "side": "buy",
    "type": "limit",
    "qty": "3",
    "limit_price": "560.00",
    "time_in_force": "gtc",
}
RESTS = {**FILLS_AT_THE_ASK, "qty": "2", "limit_price": "500.00"}


BLOCK = "/api/v1/account/trading-block"


async def blocked(client: httpx.AsyncClient, key: str) -> bool:
    state: dict[str, Any] = (await client.get(BLOCK, headers=auth(key))).json()
    return state.get("blocked") is True


def account() -> str:
    """A fresh account per test: its trade updates are only this test's."""
    return f"ws-{uuid.uuid4().hex[:8]}"


async def answer(client: Client, frame: dict[str, Any]) -> dict[str, Any]:
    await client.send(frame)
    return await client.next("order_response", request_id=frame["request_id"])


async def trade_update(client: Client, event: str, order_id: str) -> dict[str, Any]:
    """The trade update ``event`` of ``order_id``, received already or next. An order's first
    update may come before the order_response of its place: both are sent as they happen."""

    def received() -> dict[str, Any] | None:
        return next(
            (
                frame
                for frame in client.frames
                if frame["type"] == "trade_update"
                and (frame["event"], frame["data"]["order"]["id"]) == (event, order_id)
            ),
            None,
        )

    while (update := received()) is None:
        await client.next("trade_update", timeout=10)
    return update


async def test_orders_entered_on_the_stream_get_the_http_answers_and_their_trade_updates(
    system: System, client: httpx.AsyncClient
) -> None:
    key = (await system.create_key(account())).secret
    ws = await authenticated(system.gateway, key)
    async with ws.ws:
        await ws.send({"action": "subscribe", "trade_updates": True})
        await ws.next("subscription")
        place = {
            "action": "place_order",
            "request_id": "p-1",
            "order": FILLS_AT_THE_ASK,
            "idempotency_key": f"ws-{uuid.uuid4().hex}",
        }
        placed = await answer(ws, place)
        assert placed["status"] == 202, placed
        order = placed["body"]
        assert order["status"] == "pending_new"
        assert placed["headers"]["location"] == f"/api/v1/orders/{order['id']}"
        assert placed["headers"]["ratelimit-policy"].startswith('"orders"')
        await trade_update(ws, "new", order["id"])
        await ingest(system, quote("SPY", "559.00", "559.50"))
        await trade_update(ws, "fill", order["id"])

        replay = await answer(ws, {**place, "request_id": "p-1-again"})
        assert (replay["status"], replay["body"]) == (202, order)
        assert replay["headers"]["idempotent-replayed"] == "true"
        reused = await answer(ws, {**place, "request_id": "p-2", "order": RESTS})
        assert reused["status"] == 422
        assert reused["body"]["type"] == "urn:tradewind:problem:idempotency-key-reused"

        resting = (
            await answer(ws, {"action": "place_order", "request_id": "p-4", "order": RESTS})
        )["body"]
        await trade_update(ws, "new", resting["id"])
        replaced = await answer(
            ws,
            {
                "action": "replace_order",
                "request_id": "r-1",
                "order_id": resting["id"],
                "changes": {"qty": "4"},
            },
        )
        assert replaced["status"] == 202, replaced
        replacement = replaced["body"]
        assert (replacement["replaces"], replacement["qty"]) == (resting["id"], "4")
        update = await trade_update(ws, "replaced", resting["id"])
        assert update["data"]["replacement"]["id"] == replacement["id"]
        canceled = await answer(
            ws, {"action": "cancel_order", "request_id": "c-1", "order_id": replacement["id"]}
        )
        assert (canceled["status"], canceled["body"]["id"]) == (202, replacement["id"])
        await trade_update(ws, "canceled", replacement["id"])

        bad = {"symbol": "SPY", "side": "buy", "type": "limit", "qty": "0"}
        refused = await answer(ws, {"action": "place_order", "request_id": "b-1", "order": bad})
        over_http = await client.post("/api/v1/orders", json=bad, headers=auth(key))
        assert refused["status"] == over_http.status_code == 422
        problem = over_http.json()
        assert refused["body"] == {**problem, "request_id": refused["body"]["request_id"]}
        assert {"qty", "limit_price"} <= {error["field"] for error in problem["errors"]}

        # The kill switch holds for stream orders too: accepted at the edge, rejected by orders.
        block = await client.put(BLOCK, json={}, headers=auth(key))
        assert block.status_code == 202, block.text
        await eventually(lambda: blocked(client, key), message="the account was never blocked")
        placed = await answer(ws, {"action": "place_order", "request_id": "k-1", "order": RESTS})
        assert placed["status"] == 202, placed
        update = await trade_update(ws, "rejected", placed["body"]["id"])
        assert update["data"]["reason"] == "account_blocked"


async def test_a_key_without_orders_write_gets_403_and_the_orders_budget_is_shared_with_http(
    system: System, client: httpx.AsyncClient
) -> None:
    reader = (await system.create_key(account(), frozenset({"stream", "orders:read"}))).secret
    ws = await authenticated(system.gateway, reader)
    async with ws.ws:
        refused = await answer(ws, {"action": "place_order", "request_id": "f-1", "order": RESTS})
        assert refused["status"] == 403
        assert refused["body"]["type"] == "urn:tradewind:problem:forbidden"

    async with system.key_store() as store:
        issued = await store.create(
            account(), DEFAULT_SCOPES, rate_budgets=(Budget("orders", 1, 60),)
        )
    assert (
        await client.post("/api/v1/orders", json=RESTS, headers=auth(issued.secret))
    ).status_code == 202
    ws = await authenticated(system.gateway, issued.secret)
    async with ws.ws:
        limited = await answer(ws, {"action": "place_order", "request_id": "l-1", "order": RESTS})
        assert limited["status"] == 429
        assert limited["body"]["type"] == "urn:tradewind:problem:rate-limited"
        assert int(limited["headers"]["retry-after"]) > 0
