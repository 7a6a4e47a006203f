"""Issue 4 end to end: an endpoint registered through the gateway receives signed order events."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from e2e.harness import System, auth
from support.polling import eventually
from support.webhook_receiver import WebhookReceiver, serving_webhook_receiver
from unit.webhooks.spec_verifier import verify

pytestmark = pytest.mark.e2e


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with serving_webhook_receiver() as receiver:
        yield receiver


async def test_order_events_arrive_signed_at_the_partner_endpoint(
    system: System, client: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    key = (await system.create_key(f"w-{uuid.uuid4().hex[:8]}")).secret
    stranger = (await system.create_key(f"s-{uuid.uuid4().hex[:8]}")).secret

    created = await client.post(
        "/api/v1/webhooks/endpoints",
        json={"url": receiver.url, "event_types": ["order.*"]},
        headers=auth(key),
    )
    assert created.status_code == 201, created.text
    endpoint = created.json()
    assert endpoint["secret"].startswith("whsec_")

    order = await client.post(
        "/api/v1/orders",
        json={"symbol": "SPY", "side": "buy", "type": "limit", "qty": "1", "limit_price": "1.00"},
        headers=auth(key),
    )
    order_id = order.json()["id"]

    async def accepted_delivery() -> tuple[dict[str, str], bytes] | None:
        for headers, body in receiver.deliveries:
            payload = json.loads(body)
            if payload["type"] == "order.accepted" and payload["data"]["order"]["id"] == order_id:
                return headers, body
        return None

    headers, body = await eventually(accepted_delivery, timeout=15)
    verify(endpoint["secret"], headers, body)  # raises unless the signature is valid

    # Successful attempts are recorded in batches: the list may trail the delivery briefly.
    async def succeeded_attempt() -> bool:
        attempts = await client.get(
            f"/api/v1/webhooks/endpoints/{endpoint['id']}/attempts", headers=auth(key)
        )
        assert attempts.status_code == 200
        return any(a["succeeded"] for a in attempts.json()["items"])

    await eventually(succeeded_attempt, message="no successful attempt recorded")

    hidden = await client.get(
        f"/api/v1/webhooks/endpoints/{endpoint['id']}", headers=auth(stranger)
    )
    assert hidden.status_code == 404
    assert hidden.headers["content-type"] == "application/problem+json"

    refused = await client.post(
        "/api/v1/webhooks/endpoints",
        json={"url": "http://10.0.0.1/hook"},
        headers=auth(key),
    )
    assert refused.status_code == 422
    assert {e["field"] for e in refused.json()["errors"]} == {"url"}
