"""The account ledger through the gateway: GET /api/v1/account (and GraphQL's ``account``) shows
the caller's own ledger, and a buy beyond the buying power is rejected with its reason."""

from __future__ import annotations

import uuid
from decimal import Decimal

import httpx
import pytest

from e2e.harness import System, auth
from e2e.test_graphql import graphql
from e2e.trading import order_in, working_limit_order
from support.internal import INTERNAL_HEADERS
from support.polling import eventually
from support.system import TEST_INITIAL_CASH

pytestmark = pytest.mark.e2e


async def test_the_account_shows_its_ledger_and_refuses_a_buy_beyond_its_buying_power(
    system: System, client: httpx.AsyncClient
) -> None:
    account = f"ledger-{uuid.uuid4().hex[:8]}"
    key = (await system.create_key(account)).secret
    other = (await system.create_key(f"ledger-{uuid.uuid4().hex[:8]}")).secret

    fresh = await client.get("/api/v1/account", headers=auth(key))
    assert fresh.status_code == 200, fresh.text
    assert fresh.json()["account_id"] == account
    assert fresh.json()["currency"] == "USD"
    assert Decimal(fresh.json()["cash"]) == Decimal(TEST_INITIAL_CASH)

    # An operator leaves the account 1,000 (the test system's accounts start rich).
    async with httpx.AsyncClient(base_url=system.orders.url, headers=INTERNAL_HEADERS) as orders:
        withdrawn = await orders.post(
            f"/internal/v1/accounts/{account}/withdrawals",
            json={"amount": str(Decimal(TEST_INITIAL_CASH) - 1000)},
        )
        assert withdrawn.status_code == 201, withdrawn.text

    await working_limit_order(client, key, "SPY", "buy", "2", "300.00")

    async def holding() -> dict[str, str] | None:
        shown: dict[str, str] = (await client.get("/api/v1/account", headers=auth(key))).json()
        return shown if shown["held_for_orders"] == "600" else None

    shown = await eventually(holding, timeout=10, message="the order's hold never showed")
    assert (shown["cash"], shown["buying_power"]) == ("1000", "400")

    refused = await client.post(
        "/api/v1/orders",
        json={"symbol": "SPY", "side": "buy", "type": "limit", "qty": "2", "limit_price": "201"},
        headers=auth(key),
    )
    assert refused.status_code == 202, refused.text
    rejected = await order_in(client, key, refused.json()["id"], "rejected")
    assert rejected["reject_reason"] == "insufficient_buying_power"

    over_graphql = await graphql(client, key, "{ account { accountId cash heldForOrders } }")
    assert over_graphql["data"]["account"] == {
        "accountId": account,
        "cash": "1000",
        "heldForOrders": "600",
    }

    others = (await client.get("/api/v1/account", headers=auth(other))).json()
    assert others["held_for_orders"] == "0", "another account's ledger is its own"
    assert (await client.get("/api/v1/account")).status_code == 401
