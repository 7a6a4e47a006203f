"""The kill switch through the gateway, and the operator's: open orders canceled, new ones
rejected, and an operator's block that the account cannot lift."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from typing import Any

import httpx
import pytest

from e2e.harness import System, auth
from e2e.trading import order_in, working_limit_order
from support.polling import eventually

pytestmark = pytest.mark.e2e

BLOCK = "/api/v1/account/trading-block"


async def block_state(client: httpx.AsyncClient, key: str) -> dict[str, Any]:
    response = await client.get(BLOCK, headers=auth(key))
    assert response.status_code == 200, response.text
    state: dict[str, Any] = response.json()
    return state


async def blocked_by(client: httpx.AsyncClient, key: str, who: str | None) -> bool:
    return (await block_state(client, key)).get("blocked_by") == who


async def operator(system: System, *args: str) -> None:
    """The operator's CLI, run as an operator would, against the system's broker."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tradewind.orders.trading_block",
        *args,
        env={**os.environ, **system.env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, err.decode()
    assert b"sent for" in out


async def test_the_accounts_own_kill_switch_cancels_refuses_and_lifts(
    system: System, client: httpx.AsyncClient
) -> None:
    key = (await system.create_key(f"kill-{uuid.uuid4().hex[:8]}")).secret
    working = [
        await working_limit_order(client, key, symbol, "buy", "1", "1.00")
        for symbol in ("SPY", "MSFT")
    ]

    blocked = await client.put(BLOCK, json={"reason": "going home"}, headers=auth(key))

    assert blocked.status_code == 202, blocked.text
    for order_id in working:
        await order_in(client, key, order_id, "canceled")
    state = await block_state(client, key)
    assert (state["blocked"], state["reason"], state["blocked_by"]) == (
        True,
        "going home",
        "account",
    )
    refused = await client.post(
        "/api/v1/orders",
        json={"symbol": "SPY", "side": "buy", "type": "limit", "qty": "1", "limit_price": "1"},
        headers=auth(key),
    )
    assert refused.status_code == 202
    rejected = await order_in(client, key, refused.json()["id"], "rejected")
    assert rejected["reject_reason"] == "account_blocked"

    lifted = await client.delete(BLOCK, headers=auth(key))

    assert lifted.status_code == 202, lifted.text
    await eventually(lambda: blocked_by(client, key, None), message="block never lifted")
    await working_limit_order(client, key, "SPY", "buy", "1", "1.00")


async def test_an_operators_block_is_lifted_by_an_operator_only(
    system: System, client: httpx.AsyncClient
) -> None:
    account = f"kill-{uuid.uuid4().hex[:8]}"
    key = (await system.create_key(account)).secret
    order_id = await working_limit_order(client, key, "SPY", "buy", "1", "1.00")

    await operator(system, "block", account, "--reason", "margin call")

    await eventually(lambda: blocked_by(client, key, "operator"), message="never blocked")
    await order_in(client, key, order_id, "canceled")
    refused = await client.delete(BLOCK, headers=auth(key))
    assert refused.status_code == 403, refused.text
    assert refused.json()["type"] == "urn:tradewind:problem:blocked-by-operator"

    await operator(system, "unblock", account)

    await eventually(lambda: blocked_by(client, key, None), message="never unblocked")
