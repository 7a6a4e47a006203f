"""The internal positions API (and fill figures on the orders API) of the running service."""

from __future__ import annotations

from decimal import Decimal

import httpx

from integration.orders.flows import Desk, new_account
from tradewind.common.contracts.types import OrderType, Side


def positions_path(account_id: str) -> str:
    return f"/internal/v1/accounts/{account_id}/positions"


async def test_an_account_sees_its_own_positions(
    orders_client: httpx.AsyncClient, desk: Desk
) -> None:
    account, someone_else = new_account(), new_account()
    await desk.place(account, qty=Decimal("3"), limit_price=Decimal("101"))
    await desk.place(someone_else, side=Side.SELL, qty=Decimal("2"), limit_price=Decimal("99"))
    await desk.quote(bid="100", ask="100.25")

    response = await orders_client.get(positions_path(account))

    assert response.status_code == 200, response.text
    (position,) = response.json()["data"]
    assert position["symbol"] == desk.symbol
    assert position["qty"] == "3"
    assert position["avg_entry_price"] == "100.25"
    assert position["realized_pl"] == "0"
    assert position["updated_at"]
    (theirs,) = (await orders_client.get(positions_path(someone_else))).json()["data"]
    assert theirs["qty"] == "-2"


async def test_one_position_by_symbol_or_a_404_problem(
    orders_client: httpx.AsyncClient, desk: Desk
) -> None:
    account, someone_else = new_account(), new_account()
    await desk.place(account, qty=Decimal("1.5"), limit_price=Decimal("101"))
    await desk.quote(ask="100.5")

    mine = await orders_client.get(f"{positions_path(account)}/{desk.symbol}")
    theirs = await orders_client.get(f"{positions_path(someone_else)}/{desk.symbol}")

    assert mine.status_code == 200
    assert mine.json()["qty"] == "1.5"
    assert mine.json()["account_id"] == account
    assert theirs.status_code == 404
    assert theirs.headers["content-type"] == "application/problem+json"
    assert theirs.json()["type"] == "urn:tradewind:problem:not-found"
    assert theirs.json()["title"] == "Position not found"


async def test_a_closed_position_is_listed_only_when_asked_and_keeps_its_pl(
    orders_client: httpx.AsyncClient, desk: Desk
) -> None:
    account = new_account()
    await desk.place(account, qty=Decimal("4"), limit_price=Decimal("101"))
    await desk.quote(bid="99.5", ask="100")
    await desk.place(account, side=Side.SELL, qty=Decimal("4"), limit_price=Decimal("100"))
    await desk.quote(bid="102.5", ask="103")

    open_only = (await orders_client.get(positions_path(account))).json()["data"]
    everything = (
        await orders_client.get(positions_path(account), params={"include_closed": "true"})
    ).json()["data"]
    one = (await orders_client.get(f"{positions_path(account)}/{desk.symbol}")).json()

    assert open_only == []
    assert [(p["qty"], p["realized_pl"]) for p in everything] == [("0", "10")]
    assert (one["qty"], one["avg_entry_price"], one["realized_pl"]) == ("0", "0", "10")


async def test_the_orders_api_shows_the_fill_figures(
    orders_client: httpx.AsyncClient, desk: Desk
) -> None:
    account = new_account()
    await desk.quote(ask_size="0")
    order_id = await desk.place(account, type=OrderType.MARKET, limit_price=None, qty=Decimal(3))
    await desk.quote(ask="10", ask_size="1")
    await desk.quote(ask="11", ask_size="1")

    partial = (await orders_client.get(f"/internal/v1/accounts/{account}/orders/{order_id}")).json()
    await desk.quote(ask="11", ask_size="5")
    filled = (await orders_client.get(f"/internal/v1/accounts/{account}/orders/{order_id}")).json()

    assert (partial["status"], partial["filled_qty"]) == ("partially_filled", "2")
    assert partial["filled_avg_price"] == "10.5"
    assert partial["filled_at"] is None
    assert (filled["status"], filled["filled_qty"]) == ("filled", "3")
    assert filled["filled_avg_price"] == "10.666666667"
    assert filled["filled_at"] is not None
