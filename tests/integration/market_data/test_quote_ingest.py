"""A batch through the real path: validated, sequenced and kept in Redis, published as
market.quote to an outside consumer, aggregated into bars in PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI

from integration.market_data.market_data_helpers import around, listening, quote_json, runtime
from support.infra import Infra
from support.polling import eventually
from tradewind.common.broker import Broker, Topology
from tradewind.common.contracts import Quote
from tradewind.common.contracts.types import utc_now
from tradewind.common.envelope import CONTENT_TYPE

BATCH = "/internal/v1/quotes:batch"


@pytest.fixture
async def redis_client(infra: Infra) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(infra.redis_url, decode_responses=True)
    yield client
    await client.aclose()


def problem_fields(response: httpx.Response) -> list[str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == "urn:tradewind:problem:validation-error"
    return [error["field"] for error in body["errors"]]


async def test_a_batch_is_sequenced_kept_published_and_aggregated(
    market_data_app: FastAPI,
    market_data_client: httpx.AsyncClient,
    infra: Infra,
    redis_client: aioredis.Redis,
) -> None:
    broker: Broker = runtime(market_data_app).broker
    topology: Topology = runtime(market_data_app).topology
    t1 = utc_now().replace(microsecond=0) - timedelta(seconds=2)
    t2 = t1 + timedelta(seconds=1)
    batch = [
        quote_json("INGEST", t1, "10.00", "10.02"),
        quote_json("INGEST.B", t1, "20.00", "20.04", bid_size="0"),
        quote_json("INGEST", t2, "10.01", "10.03"),
    ]

    async with listening(broker, topology, "market.quote.INGEST", "market.quote.INGEST.B") as inbox:
        response = await market_data_client.post(BATCH, json={"quotes": batch})

        assert response.status_code == 200, response.text
        body = response.json()
        assert body["accepted"] == 3
        assert [(q["symbol"], q["sequence"]) for q in body["quotes"]] == [
            ("INGEST", 1),
            ("INGEST.B", 1),
            ("INGEST", 2),
        ]

        # Redis: the latest quote of each symbol, with its sequence, and the counters.
        ns = infra.namespace
        latest = await redis_client.hgetall(f"{ns}:market-data:latest:INGEST")
        assert latest["sequence"] == "2"
        assert (latest["bid_price"], latest["ask_price"]) == ("10.01", "10.03")
        assert latest["timestamp"] == t2.isoformat()
        assert await redis_client.get(f"{ns}:market-data:sequence:INGEST") == "2"
        assert await redis_client.get(f"{ns}:market-data:sequence:INGEST.B") == "1"

        # The broker: one valid CloudEvent per quote, routed by symbol.
        received = [await inbox.next() for _ in range(3)]
    by_sequence = sorted(received, key=lambda r: (r.event.subject or "", r.event.data["sequence"]))
    assert [r.routing_key for r in by_sequence] == [
        "market.quote.INGEST",
        "market.quote.INGEST",
        "market.quote.INGEST.B",
    ]
    for message in received:
        event = message.event
        quote = event.data_as(Quote)
        assert event.specversion == "1.0"
        assert event.type == "market.quote"
        assert event.source == "/tradewind/market-data"
        assert event.subject == quote.symbol
        assert event.time == quote.timestamp
        assert message.message_id == event.id
        assert message.content_type == CONTENT_TYPE
        assert quote.source == "ingest"
    last = by_sequence[1].event.data_as(Quote)
    assert (last.sequence, last.bid_price, last.ask_size) == (2, Decimal("10.01"), Decimal("200"))

    # PostgreSQL: the one-minute bars (two quotes of INGEST may straddle a minute).
    async def ingest_volume() -> int | None:
        response = await market_data_client.get(
            "/internal/v1/bars/INGEST", params={"start": (t1 - timedelta(minutes=1)).isoformat()}
        )
        volume = sum(bar["v"] for bar in response.json()["data"])
        return volume if volume == 2 else None

    await eventually(ingest_volume, message="INGEST quotes were not aggregated into bars")
    response = await market_data_client.get("/internal/v1/bars/INGEST.B")
    (bar,) = response.json()["data"]
    assert (bar["o"], bar["h"], bar["l"], bar["c"], bar["v"]) == (
        "20.02",
        "20.02",
        "20.02",
        "20.02",
        1,
    )


async def test_latest_quotes_carry_their_sequence_and_are_fresh(
    market_data_client: httpx.AsyncClient,
) -> None:
    now = utc_now()
    newer = around("50.00", "LATEST", now - timedelta(seconds=1))
    older = around("49.00", "LATEST", now - timedelta(seconds=5))
    # The older quote arrives last: it gets the higher sequence but stays out of "latest".
    for quote in (newer, older):
        response = await market_data_client.post(BATCH, json={"quotes": [quote]})
        assert response.status_code == 200, response.text

    one = await market_data_client.get("/internal/v1/quotes/LATEST/latest")
    several = await market_data_client.get(
        "/internal/v1/quotes/latest", params={"symbols": "latest,AAPL"}
    )

    assert one.status_code == 200
    assert one.json() == {
        "symbol": "LATEST",
        "bid_price": "49.99",
        "bid_size": "100",
        "ask_price": "50.01",
        "ask_size": "200",
        "timestamp": newer["timestamp"].replace("+00:00", "Z"),
        "sequence": 1,
        "source": "ingest",
        "stale": False,
    }
    assert several.status_code == 200
    assert several.json()["quotes"] == {"LATEST": one.json()}  # AAPL has no quote yet


async def test_latest_quote_of_an_unknown_or_unquoted_symbol_is_a_404_problem(
    market_data_client: httpx.AsyncClient,
) -> None:
    unknown = await market_data_client.get("/internal/v1/quotes/NOPE/latest")
    unquoted = await market_data_client.get("/internal/v1/quotes/SPY/latest")
    unknown_in_list = await market_data_client.get(
        "/internal/v1/quotes/latest", params={"symbols": "AAPL,NOPE,ZZZ"}
    )

    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"
    assert unknown.json()["title"] == "Unknown symbol"
    assert unquoted.status_code == 404
    assert unquoted.json()["type"] == "urn:tradewind:problem:no-quote"
    assert unknown_in_list.status_code == 404
    assert unknown_in_list.json()["symbols"] == ["NOPE", "ZZZ"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"symbol": "NOPE"}, "quotes.1.symbol"),
        ({"bid_price": "10.05"}, "quotes.1.bid_price"),  # crossed: above the ask
        ({"ask_price": "10.035"}, "quotes.1.ask_price"),  # off the 0.01 tick
        ({"bid_price": "0"}, "quotes.1.bid_price"),
        ({"ask_size": "-1"}, "quotes.1.ask_size"),
        ({"bid_price": 10.01}, "quotes.1.bid_price"),  # a JSON number, not a decimal string
        ({"timestamp": "2025-03-03T14:30:00"}, "quotes.1.timestamp"),  # no offset
        ({"timestamp": "2999-01-01T00:00:00Z"}, "quotes.1.timestamp"),  # the future
    ],
)
async def test_a_bad_quote_refuses_the_whole_batch_naming_the_field(
    market_data_client: httpx.AsyncClient, change: dict[str, Any], field: str
) -> None:
    good = around("10.02", "REJECT", utc_now() - timedelta(seconds=1))

    response = await market_data_client.post(BATCH, json={"quotes": [good, {**good, **change}]})

    assert problem_fields(response) == [field]
    # All-or-nothing: the good quote of the batch was not recorded either.
    latest = await market_data_client.get("/internal/v1/quotes/REJECT/latest")
    assert latest.status_code == 404


async def test_an_empty_or_missing_batch_is_refused(market_data_client: httpx.AsyncClient) -> None:
    assert problem_fields(await market_data_client.post(BATCH, json={"quotes": []})) == ["quotes"]
    assert problem_fields(await market_data_client.post(BATCH, json={})) == ["quotes"]


async def test_the_service_is_ready(market_data_client: httpx.AsyncClient) -> None:
    response = await market_data_client.get("/health/ready")

    assert response.status_code == 200
    assert response.json() == {
        "status": "up",
        "checks": {
            "postgres": {"status": "up"},
            "broker": {"status": "up"},
            "redis": {"status": "up"},
        },
    }
