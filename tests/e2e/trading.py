"""Trading steps the e2e tests share: quotes into market-data, orders through the gateway."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from e2e.harness import System, auth
from support.internal import INTERNAL_HEADERS
from support.polling import eventually


async def ingest(system: System, *quotes: dict[str, Any]) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(
        base_url=system.market_data.url, timeout=10, headers=INTERNAL_HEADERS
    ) as market:
        response = await market.post("/internal/v1/quotes:batch", json={"quotes": list(quotes)})
    assert response.status_code in (200, 202), response.text
    accepted: list[dict[str, Any]] = response.json()["quotes"]
    return accepted


_clock = datetime.now(UTC)


def quote(
    symbol: str, bid: str, ask: str, bid_size: str = "100", ask_size: str = "100"
) -> dict[str, Any]:
    # Strictly increasing timestamps: each quote is newer than the last, across tests.
    global _clock
    _clock = max(_clock + timedelta(milliseconds=1), datetime.now(UTC))
    return {
        "symbol": symbol,
        "bid_price": bid,
        "bid_size": bid_size,
        "ask_price": ask,
        "ask_size": ask_size,
        "timestamp": _clock.isoformat(),
    }


async def order_in(
    client: httpx.AsyncClient, key: str, order_id: str, status: str, timeout: float = 10
) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        body: dict[str, Any] = (
            await client.get(f"/api/v1/orders/{order_id}", headers=auth(key))
        ).json()
        return body if body["status"] == status else None

    return await eventually(probe, timeout=timeout, message=f"order never {status}")


async def working_limit_order(
    client: httpx.AsyncClient, key: str, symbol: str, side: str, qty: str, limit_price: str
) -> str:
    """Place a gtc limit order through the gateway and wait until it works (status new)."""
    response = await client.post(
        "/api/v1/orders",
        json={
            "symbol": symbol,
            "side": side,
            "type": "limit",
            "qty": qty,
            "limit_price": limit_price,
            "time_in_force": "gtc",
        },
        headers=auth(key),
    )
    order_id: str = response.json()["id"]
    await order_in(client, key, order_id, "new")
    return order_id
