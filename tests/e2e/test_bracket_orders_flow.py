"""Issue 12 end to end: a bracket order through the gateway, its legs listed on it, held until the
entry fills, and the take-profit's fill canceling the stop-loss; a bracket breaking Alpaca's
price rules is a 422 naming the field."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from e2e.harness import System, auth
from e2e.trading import ingest, order_in, quote
from support.polling import eventually

pytestmark = pytest.mark.e2e

SYMBOL = "GOOGL"
# Sizes far above any resting order other tests leave on the symbol: they never starve ours.
SIZE = "100000"


def bracket(take_profit: str) -> dict[str, Any]:
    return {
        "symbol": SYMBOL,
        "side": "buy",
        "type": "limit",
        "qty": "5",
        "limit_price": "1000",
        "time_in_force": "gtc",
        "order_class": "bracket",
        "take_profit": {"limit_price": take_profit},
        "stop_loss": {"stop_price": "950"},
    }


async def legs_in(
    client: httpx.AsyncClient, key: str, order_id: str, statuses: list[str]
) -> list[dict[str, Any]]:
    async def probe() -> list[dict[str, Any]] | None:
        body = (await client.get(f"/api/v1/orders/{order_id}", headers=auth(key))).json()
        legs: list[dict[str, Any]] = body.get("legs") or []
        return legs if [leg["status"] for leg in legs] == statuses else None

    return await eventually(probe, timeout=10, message=f"legs never {statuses}")


async def test_a_bracket_enters_then_its_take_profit_cancels_its_stop_loss(
    system: System, client: httpx.AsyncClient
) -> None:
    key = (await system.create_key(f"b-{uuid.uuid4().hex[:8]}")).secret
    await ingest(system, quote(SYMBOL, "1001.00", "1001.50", SIZE, SIZE))  # above the entry

    refused = await client.post("/api/v1/orders", json=bracket("990"), headers=auth(key))
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in refused.json()["errors"]] == ["take_profit.limit_price"]

    placed = await client.post("/api/v1/orders", json=bracket("1100"), headers=auth(key))
    assert placed.status_code == 202, placed.text
    order = placed.json()
    assert order["order_class"] == "bracket"
    leg_ids = [leg["id"] for leg in order["legs"]]
    assert [leg["type"] for leg in order["legs"]] == ["limit", "stop"]
    await order_in(client, key, order["id"], "new")
    held = await legs_in(client, key, order["id"], ["held", "held"])
    assert [leg["id"] for leg in held] == leg_ids
    assert all(leg["parent_id"] == order["id"] for leg in held)

    await ingest(system, quote(SYMBOL, "999.00", "999.50", SIZE, SIZE))  # the entry fills
    await order_in(client, key, order["id"], "filled")
    await legs_in(client, key, order["id"], ["new", "new"])

    await ingest(system, quote(SYMBOL, "1100.00", "1100.50", SIZE, SIZE))  # the take-profit
    await legs_in(client, key, order["id"], ["filled", "canceled"])
    stop_loss = await order_in(client, key, leg_ids[1], "canceled")
    assert stop_loss["filled_qty"] == "0"
    position = (await client.get(f"/api/v1/positions/{SYMBOL}", headers=auth(key))).json()
    assert position["qty"] == "0"
