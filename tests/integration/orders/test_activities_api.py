"""The internal activities API of the running service: an account's fills, newest first, with
the order's figures as of each fill, a keyset page at a time."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx

from integration.orders.flows import Desk, new_account
from tradewind.common.contracts.types import Side


def activities_path(account_id: str) -> str:
    return f"/internal/v1/accounts/{account_id}/activities"


async def all_pages(client: httpx.AsyncClient, path: str, **params: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        query = {**params, **({"page_token": token} if token else {})}
        response = await client.get(path, params=query)
        assert response.status_code == 200, response.text
        found += response.json()["data"]
        token = response.json()["next_page_token"]
        if token is None:
            return found


async def test_fills_are_activities_newest_first_with_the_orders_figures_at_each_fill(
    orders_client: httpx.AsyncClient, desk: Desk
) -> None:
    account, someone_else = new_account(), new_account()
    order_id = await desk.place(account, qty=Decimal(10), limit_price=Decimal("101"))
    await desk.place(someone_else, side=Side.SELL, qty=Decimal(1), limit_price=Decimal("99"))
    await desk.quote(ask="100.5", ask_size="3", bid="99.5")
    await desk.quote(ask="100.25", ask_size="2")
    await desk.quote(ask="100", ask_size="50")

    activities = await all_pages(orders_client, activities_path(account), limit="2")

    assert [a["order_id"] for a in activities] == [str(order_id)] * 3
    assert [(a["qty"], a["cum_qty"], a["leaves_qty"]) for a in activities] == [
        ("5", "10", "0"),
        ("2", "5", "5"),
        ("3", "3", "7"),
    ]
    assert [a["price"] for a in activities] == ["100", "100.25", "100.5"]
    assert [a["type"] for a in activities] == ["fill", "partial_fill", "partial_fill"]
    assert [a["order_status"] for a in activities] == [
        "filled",
        "partially_filled",
        "partially_filled",
    ]
    assert {a["activity_type"] for a in activities} == {"FILL"}
    assert {(a["symbol"], a["side"]) for a in activities} == {(desk.symbol, "buy")}
    times = [datetime.fromisoformat(a["transaction_time"]) for a in activities]
    assert times == sorted(times, reverse=True)
    (theirs,) = await all_pages(orders_client, activities_path(someone_else))
    assert theirs["side"] == "sell"


async def test_activities_between_after_and_until(
    orders_client: httpx.AsyncClient, desk: Desk
) -> None:
    account = new_account()
    await desk.place(account, qty=Decimal(3), limit_price=Decimal("101"))
    for size in ("1", "1", "1"):
        await desk.quote(ask="100.5", ask_size=size)
    every = await all_pages(orders_client, activities_path(account))
    newest, middle, oldest = (a["transaction_time"] for a in every)

    between = await all_pages(orders_client, activities_path(account), after=middle, until=newest)

    assert [a["transaction_time"] for a in between] == [middle]
    assert oldest < middle


async def test_activity_types_other_than_fill_are_refused_and_fill_filters(
    orders_client: httpx.AsyncClient, desk: Desk
) -> None:
    account = new_account()
    await desk.place(account, qty=Decimal(1), limit_price=Decimal("101"))
    await desk.quote(ask="100.5")

    fills = await orders_client.get(activities_path(account), params={"activity_types": "FILL"})
    unknown = await orders_client.get(
        activities_path(account), params={"activity_types": "FILL,DIV"}
    )
    forged = await orders_client.get(activities_path(account), params={"page_token": "bm9wZQ"})

    assert len(fills.json()["data"]) == 1
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "activity_types"
    assert forged.status_code == 400
    assert forged.json()["type"] == "urn:tradewind:problem:invalid-page-token"
