"""An access token from /api/v1/auth/token works on the orders routes like the key it came from."""

from __future__ import annotations

import uuid

import httpx
import pytest

from e2e.harness import System, auth

pytestmark = pytest.mark.e2e


async def test_a_token_places_and_reads_orders_until_its_key_is_revoked(
    system: System, client: httpx.AsyncClient
) -> None:
    account = f"tok-{uuid.uuid4().hex[:8]}"
    key = await system.create_key(account)
    exchanged = await client.post(
        "/api/v1/auth/token",
        data={"grant_type": "client_credentials"},
        auth=(key.key_id, key.secret),
    )
    assert exchanged.status_code == 200, exchanged.text
    token = exchanged.json()["access_token"]

    placed = await client.post(
        "/api/v1/orders",
        json={"symbol": "AAPL", "side": "buy", "type": "limit", "qty": "1", "limit_price": "1"},
        headers=auth(token),
    )
    assert placed.status_code == 202, placed.text
    read = await client.get(f"/api/v1/orders/{placed.json()['id']}", headers=auth(token))
    assert read.status_code == 200, read.text
    assert (await client.get("/api/v1/orders", headers=auth(token))).status_code == 200

    async with system.key_store() as store:
        assert await store.revoke(account, key.key_id)
    refused = await client.get("/api/v1/orders", headers=auth(token))
    assert refused.status_code == 401, refused.text
