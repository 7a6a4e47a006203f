"""The named series every dashboard and alert reads exist on each service's /metrics and move
when work happens: one order placed through the gateway and filled by an ingested quote."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from e2e.harness import System
from e2e.trading import ingest, order_in, quote, working_limit_order
from support.internal import INTERNAL_HEADERS
from support.polling import eventually

pytestmark = pytest.mark.e2e

# (service, series, labels a sample must have): what the work below must move.
MOVED = [
    ("gateway", "tradewind_http_requests_total", {"method": "POST", "status": "202"}),
    ("gateway", "tradewind_messages_published_total", {"outcome": "confirmed"}),
    ("orders", "tradewind_messages_consumed_total", {"outcome": "acked"}),
    ("orders", "tradewind_outbox_published_total", {}),
    ("market-data", "tradewind_messages_published_total", {"outcome": "confirmed"}),
]


async def series_total(url: str, name: str, labels: Mapping[str, str]) -> float:
    async with httpx.AsyncClient(base_url=url, headers=INTERNAL_HEADERS, timeout=10) as http:
        text = (await http.get("/metrics")).text
    total, found = 0.0, False
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                total, found = total + sample.value, True
    assert found, f"{name}{dict(labels)} is not on {url}/metrics"
    return total


async def test_the_named_series_move_when_an_order_is_placed_and_filled(
    system: System, client: httpx.AsyncClient
) -> None:
    urls = {
        "gateway": system.gateway.url,
        "orders": system.orders.url,
        "market-data": system.market_data.url,
    }
    key = (await system.create_key(f"metrics-{uuid.uuid4().hex[:8]}")).secret
    # Every series exists before the work (a first order makes the labelled ones appear).
    await working_limit_order(client, key, "AMZN", "buy", "1", "1.00")
    before = {
        (service, name): await series_total(urls[service], name, labels)
        for service, name, labels in MOVED
    }

    order_id = await working_limit_order(client, key, "AMZN", "buy", "2", "500.00")
    await ingest(system, quote("AMZN", "179.90", "180.00"))
    await order_in(client, key, order_id, "filled")

    unmoved: list[str] = []

    async def moved() -> bool:
        nonlocal unmoved
        unmoved = [
            f"{service} {name}"
            for service, name, labels in MOVED
            if await series_total(urls[service], name, labels) <= before[(service, name)]
        ]
        return not unmoved

    try:
        await eventually(moved, timeout=15)
    except AssertionError:
        raise AssertionError(f"series that did not move within 15 s: {unmoved}") from None
