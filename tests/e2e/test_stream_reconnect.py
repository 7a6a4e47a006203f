"""A stream client that reconnects with resume_after gets exactly the trade updates it missed,
in order, then live ones; one that reconnects too late gets a snapshot of its open orders."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from e2e.harness import System, auth
from e2e.trading import order_in, working_limit_order
from support.internal import INTERNAL_HEADERS
from support.polling import eventually
from support.streams import Client, authenticated

pytestmark = pytest.mark.e2e

SYMBOL = "SPY"
RETAINED = 12  # TRADEWIND_ORDERS_TRADE_UPDATES_RETAINED of the e2e system (conftest.py)


async def resting_order(client: httpx.AsyncClient, key: str) -> str:
    """A buy far below the market: it rests until canceled."""
    return await working_limit_order(client, key, SYMBOL, "buy", "1", "1.00")


async def cancel(client: httpx.AsyncClient, key: str, order_id: str) -> None:
    response = await client.delete(f"/api/v1/orders/{order_id}", headers=auth(key))
    assert response.status_code == 202, response.text
    await order_in(client, key, order_id, "canceled")


async def subscribed(system: System, key: str, **subscription: Any) -> Client:
    stream = await authenticated(system.gateway, key)
    await stream.send({"action": "subscribe", "trade_updates": True, **subscription})
    await stream.next("subscription")
    return stream


def updates(stream: Client) -> list[tuple[int | None, str, str]]:
    """(account sequence, event, order id) of the trade updates received so far; advisory
    pending_* updates have no sequence."""
    return [
        (
            frame.get("account_sequence"),
            frame["event"],
            frame["data"]["order"]["id"] if "order" in frame["data"] else frame["data"]["order_id"],
        )
        for frame in stream.frames
        if frame["type"] == "trade_update"
    ]


async def test_a_client_that_resumes_gets_exactly_what_it_missed_then_live_updates(
    system: System, client: httpx.AsyncClient
) -> None:
    key = (await system.create_key(f"resume-{uuid.uuid4().hex[:8]}")).secret
    first = await subscribed(system, key)
    async with first.ws:
        placed = await resting_order(client, key)
        new = await first.next("trade_update", event="new")
    last_seen = new["account_sequence"]
    assert new["data"]["order"]["id"] == placed

    # Disconnected: the orders change meanwhile.
    second = await resting_order(client, key)
    await cancel(client, key, placed)
    third = await resting_order(client, key)

    resumed = await subscribed(system, key, resume_after=last_seen)
    async with resumed.ws:
        await resumed.next("trade_update", event="new", account_sequence=last_seen + 3)
        await cancel(client, key, second)  # live, after the missed ones
        await resumed.next("trade_update", event="canceled", account_sequence=last_seen + 4)
        # The missed pending_cancel of the first order is not kept (advisory); the live one
        # comes before the decision.
        assert updates(resumed) == [
            (last_seen + 1, "new", second),
            (last_seen + 2, "canceled", placed),
            (last_seen + 3, "new", third),
            (None, "pending_cancel", second),
            (last_seen + 4, "canceled", second),
        ]


async def kept_from(system: System, account: str) -> dict[str, Any]:
    async with httpx.AsyncClient(
        base_url=system.orders.url, headers=INTERNAL_HEADERS, timeout=10
    ) as orders:
        response = await orders.get(
            f"/internal/v1/accounts/{account}/trade-updates", params={"after": 1, "limit": 1}
        )
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


async def test_a_client_too_far_behind_gets_a_snapshot_then_live_updates(
    system: System, client: httpx.AsyncClient
) -> None:
    account = f"snapshot-{uuid.uuid4().hex[:8]}"
    key = (await system.create_key(account)).secret
    first = await resting_order(client, key)  # update 1
    # More updates than are kept: update 1's successors are pruned.
    others = await asyncio.gather(*(resting_order(client, key) for _ in range(RETAINED + 1)))

    async def pruned() -> dict[str, Any] | None:
        page = await kept_from(system, account)
        return None if page["resumable"] else page

    page = await eventually(pruned, message="updates after 1 never pruned")
    last = page["last_sequence"]
    assert last == RETAINED + 2

    stream = await subscribed(system, key, resume_after=1)
    async with stream.ws:
        snapshot = await stream.next("snapshot")
        assert snapshot["account_sequence"] == last
        assert {order["id"] for order in snapshot["orders"]} == {first, *others}
        assert all(order["status"] == "new" for order in snapshot["orders"])
        await cancel(client, key, first)
        update = await stream.next("trade_update", event="canceled")
        assert update["account_sequence"] == last + 1
        assert updates(stream) == [(None, "pending_cancel", first), (last + 1, "canceled", first)]
