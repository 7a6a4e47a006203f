"""One account's bad input is a 4xx at the edge and never opens a breaker for another account.

Each request below once reached a service and came back a 500 (a date that overflows, a cursor
past the PostgreSQL bigint, a NUL PostgreSQL text cannot hold), or was accepted and parked
later; counted by the gateway's per-service breakers, a few of them made every account's
orders or webhooks API answer 503.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from e2e.harness import System, auth
from support.internal import INTERNAL_HEADERS

pytestmark = pytest.mark.e2e

OVERFLOWING_TIME = "9999-12-31T23:59:59-23:59"  # past datetime.max once in UTC
UNDERFLOWING_TIME = "0001-01-01T00:00:00+23:59"
PAST_BIGINT = str(2**63)
# A page token that decodes to a time past the UTC range (the services issue base64url JSON).
FORGED_CURSOR = (
    base64.urlsafe_b64encode(json.dumps([OVERFLOWING_TIME, str(uuid.uuid4())]).encode())
    .decode()
    .rstrip("=")
)
FORGED_BAR_CURSOR = (
    base64.urlsafe_b64encode(json.dumps(["AAPL", "1Min", OVERFLOWING_TIME]).encode())
    .decode()
    .rstrip("=")
)
REPEATS = 4  # twice the breaker threshold of the gateway under test


@pytest.fixture
async def touchy_gateway(system: System) -> AsyncIterator[httpx.AsyncClient]:
    """A gateway whose breakers open after 2 failures and stay open for the whole test."""
    gateway = system.another_gateway(
        "gateway-touchy",
        TRADEWIND_GATEWAY_BREAKER_FAILURE_THRESHOLD="2",
        TRADEWIND_GATEWAY_BREAKER_RECOVERY_S="600",
    )
    try:
        await gateway.wait_ready()
        async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
            yield client
    finally:
        gateway.stop()


async def _endpoint_of(client: httpx.AsyncClient, key: str) -> str:
    response = await client.post(
        "/api/v1/webhooks/endpoints",
        json={"url": "http://127.0.0.1:9/hook", "description": "isolation test"},
        headers=auth(key),
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _bad_requests(endpoint_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    order = {"symbol": "AAPL", "side": "buy", "type": "market", "qty": "1"}
    return [
        ("GET", "/api/v1/orders", {"params": {"updated_since": OVERFLOWING_TIME}}),
        ("GET", "/api/v1/orders", {"params": {"updated_since": UNDERFLOWING_TIME}}),
        ("GET", "/api/v1/orders", {"params": {"symbol": "\u00df"}}),
        ("GET", "/api/v1/orders", {"params": {"page_token": "not-a-cursor"}}),
        ("GET", "/api/v1/orders", {"params": {"page_token": FORGED_CURSOR}}),
        ("GET", "/api/v1/market/bars/AAPL", {"params": {"page_token": FORGED_BAR_CURSOR}}),
        ("GET", "/api/v1/orders", {"params": {"limit": "100000"}}),
        (
            "GET",
            f"/api/v1/webhooks/endpoints/{endpoint_id}/attempts",
            {"params": {"before": PAST_BIGINT}},
        ),
        ("GET", "/api/v1/webhooks/messages/msg_x/attempts", {"params": {"before": PAST_BIGINT}}),
        (
            "POST",
            "/api/v1/webhooks/endpoints",
            {"json": {"url": "http://127.0.0.1:9/hook", "description": "nul\x00"}},
        ),
        (
            "PATCH",
            f"/api/v1/webhooks/endpoints/{endpoint_id}",
            {"json": {"description": "\u202eevil"}},
        ),
        (
            "POST",
            "/api/v1/webhooks/endpoints",
            {
                "json": {
                    "url": "http://\uff11\uff16\uff19.\uff12\uff15\uff14.\uff11\uff16\uff19.\uff12\uff15\uff14/"
                }
            },
        ),
        ("GET", "/api/v1/market/bars/AAPL", {"params": {"start": OVERFLOWING_TIME}}),
        ("GET", "/api/v1/market/quotes/latest", {"params": {"symbols": "AAPL,\u00df"}}),
        ("GET", "/api/v1/positions/\u00df", {}),
        ("POST", "/api/v1/orders", {"json": {**order, "client_order_id": "bad\x00id"}}),
        ("POST", "/api/v1/orders", {"json": {**order, "qty": "\uff11\uff10"}}),
        ("POST", "/api/v1/orders", {"json": {**order, "qty": "1_000"}}),
        ("POST", "/api/v1/orders", {"json": {**order, "qty": " 1"}}),
    ]


async def test_one_accounts_bad_requests_are_4xx_and_never_open_a_breaker_for_another(
    touchy_gateway: httpx.AsyncClient, api_keys: dict[str, str]
) -> None:
    client = touchy_gateway
    endpoint_id = await _endpoint_of(client, api_keys["bob"])
    for method, path, options in _bad_requests(endpoint_id):
        for _ in range(REPEATS):
            response = await client.request(method, path, headers=auth(api_keys["bob"]), **options)
            assert 400 <= response.status_code < 500, (method, path, options, response.text)
            assert response.headers["content-type"] == "application/problem+json"

    for path in ("/api/v1/orders", "/api/v1/webhooks/endpoints", "/api/v1/instruments"):
        response = await client.get(path, headers=auth(api_keys["alice"]))
        assert response.status_code == 200, (path, response.text)
    metrics = (await client.get("/metrics")).text
    states = re.findall(
        r'^tradewind_circuit_breaker_state\{breaker="([^"]+)"\} (\S+)$', metrics, re.M
    )
    assert {name for name, _ in states} >= {"orders", "webhooks", "market_data"}
    assert all(float(state) == 0 for _, state in states), states


async def test_the_services_own_apis_refuse_the_same_input_with_4xx(system: System) -> None:
    account = f"iso-{uuid.uuid4().hex[:8]}"
    orders = f"{system.orders.url}/internal/v1/accounts"
    webhooks = f"{system.webhooks.url}/internal/v1/accounts"
    async with httpx.AsyncClient(timeout=10, headers=INTERNAL_HEADERS) as http:
        created = await http.post(
            f"{webhooks}/{account}/webhooks/endpoints", json={"url": "http://127.0.0.1:9/hook"}
        )
        assert created.status_code == 201, created.text
        endpoint_id = created.json()["id"]
        refused = [
            await http.get(
                f"{orders}/{account}/orders", params={"updated_since": OVERFLOWING_TIME}
            ),
            await http.get(f"{orders}/{account}/orders", params={"symbol": "\u00df"}),
            await http.get(f"{orders}/ACME/orders"),
            await http.get(f"{system.orders.url}/internal/v1/instruments/A%00B"),
            await http.get(f"{webhooks}/{account}/webhooks/endpoints/ep%00x"),
            await http.get(f"{orders}/a.b/positions"),
            await http.get(
                f"{webhooks}/{account}/webhooks/endpoints/{endpoint_id}/attempts",
                params={"before": PAST_BIGINT},
            ),
            await http.post(
                f"{webhooks}/{account}/webhooks/endpoints",
                json={"url": "http://127.0.0.1:9/hook", "description": "nul\x00"},
            ),
            await http.post(
                f"{webhooks}/{account}/webhooks/endpoints",
                json={"url": "http://169\u3002254\u3002169\u3002254/"},
            ),
        ]
    assert [response.status_code for response in refused] == [422] * len(refused), [
        response.text for response in refused
    ]
