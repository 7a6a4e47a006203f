"""Bars through the real path: quotes ingested over HTTP (late ones included) give the exact
OHLCV, derived timeframes aggregate the stored minutes, pages follow page_token."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from integration.market_data.market_data_helpers import around
from support.polling import eventually

BATCH = "/internal/v1/quotes:batch"
T0 = datetime(2025, 3, 3, 14, 30, tzinfo=UTC)


def at(minute: int, second: int) -> datetime:
    return T0 + timedelta(minutes=minute, seconds=second)


async def ingest(client: httpx.AsyncClient, quotes: list[dict[str, str]]) -> None:
    response = await client.post(BATCH, json={"quotes": quotes})
    assert response.status_code == 200, response.text


async def bars(client: httpx.AsyncClient, symbol: str, **params: Any) -> dict[str, Any]:
    response = await client.get(f"/internal/v1/bars/{symbol}", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def ohlcv(body: dict[str, Any]) -> list[tuple[str, str, str, str, str, int]]:
    return [(b["t"], b["o"], b["h"], b["l"], b["c"], b["v"]) for b in body["data"]]


async def wait_for_volume(client: httpx.AsyncClient, symbol: str, volume: int) -> None:
    async def counted() -> int | None:
        total = sum(bar["v"] for bar in (await bars(client, symbol))["data"])
        return total if total == volume else None

    await eventually(counted, message=f"{symbol} bars did not reach a volume of {volume}")


# In arrival order, in four batches: late quotes arrive after later ones, some in other batches.
LATE_ARRIVALS = [
    [around("100.00", "LATE", at(0, 10)), around("101.50", "LATE", at(0, 50))],
    [around("103.00", "LATE", at(0, 40)), around("102.00", "LATE", at(1, 30))],
    [
        around("99.00", "LATE", at(0, 5)),  # late: the open and low of 14:30
        around("104.00", "LATE", at(4, 59)),
        around("98.50", "LATE", at(5, 0)),  # the next 5-minute bar
    ],
    [around("101.00", "LATE", at(1, 10)), around("100.50", "LATE", at(0, 30))],
]


async def test_late_quotes_give_the_exact_one_and_five_minute_bars(
    market_data_client: httpx.AsyncClient,
) -> None:
    for batch in LATE_ARRIVALS:
        await ingest(market_data_client, batch)
    await wait_for_volume(market_data_client, "LATE", 9)

    one_minute = await bars(market_data_client, "LATE", timeframe="1Min")
    five_minutes = await bars(market_data_client, "LATE", timeframe="5Min")

    assert ohlcv(one_minute) == [
        ("2025-03-03T14:30:00Z", "99.00", "103.00", "99.00", "101.50", 5),
        ("2025-03-03T14:31:00Z", "101.00", "102.00", "101.00", "102.00", 2),
        ("2025-03-03T14:34:00Z", "104.00", "104.00", "104.00", "104.00", 1),
        ("2025-03-03T14:35:00Z", "98.50", "98.50", "98.50", "98.50", 1),
    ]
    assert ohlcv(five_minutes) == [
        ("2025-03-03T14:30:00Z", "99.00", "104.00", "99.00", "104.00", 8),
        ("2025-03-03T14:35:00Z", "98.50", "98.50", "98.50", "98.50", 1),
    ]
    assert one_minute["next_page_token"] is None
    day = await bars(market_data_client, "LATE", timeframe="1Day")
    assert ohlcv(day) == [("2025-03-03T00:00:00Z", "99.00", "104.00", "98.50", "98.50", 9)]


async def test_a_replayed_batch_is_not_counted_twice(
    market_data_client: httpx.AsyncClient,
) -> None:
    batch = [around("10.00", "REPLAY", at(0, 1)), around("10.50", "REPLAY", at(0, 2))]
    await ingest(market_data_client, batch)
    await wait_for_volume(market_data_client, "REPLAY", 2)

    await ingest(market_data_client, batch)  # a feed resending after a timeout
    await ingest(market_data_client, [around("11.00", "REPLAY", at(0, 3))])

    # The last quote is written with or after the replay: once it counts, the replay was seen.
    await wait_for_volume(market_data_client, "REPLAY", 3)
    assert ohlcv(await bars(market_data_client, "REPLAY")) == [
        ("2025-03-03T14:30:00Z", "10.00", "11.00", "10.00", "11.00", 3)
    ]


async def test_pages_follow_the_page_token(market_data_client: httpx.AsyncClient) -> None:
    await ingest(
        market_data_client,
        [around(f"{20 + minute}.00", "PAGED", at(minute, 0)) for minute in range(7)],
    )
    await wait_for_volume(market_data_client, "PAGED", 7)

    starts: list[str] = []
    tokens: list[str | None] = []
    params: dict[str, Any] = {"limit": 3}
    while True:
        page = await bars(market_data_client, "PAGED", **params)
        starts += [bar["t"] for bar in page["data"]]
        tokens.append(page["next_page_token"])
        if page["next_page_token"] is None:
            break
        params["page_token"] = page["next_page_token"]

    assert starts == [f"2025-03-03T14:3{minute}:00Z" for minute in range(7)]
    assert len(tokens) == 3
    assert tokens[-1] is None

    window = await bars(
        market_data_client,
        "PAGED",
        start=at(1, 30).isoformat(),  # a bar starting before start is left out
        end=at(4, 0).isoformat(),  # a bar starting at end is included
        limit=2,
    )
    assert [bar["t"] for bar in window["data"]] == ["2025-03-03T14:32:00Z", "2025-03-03T14:33:00Z"]
    rest = await bars(
        market_data_client,
        "PAGED",
        start=at(1, 30).isoformat(),
        end=at(4, 0).isoformat(),
        page_token=window["next_page_token"],
    )
    assert [bar["t"] for bar in rest["data"]] == ["2025-03-03T14:34:00Z"]

    five = await bars(market_data_client, "PAGED", timeframe="5Min", limit=1)
    five_rest = await bars(
        market_data_client, "PAGED", timeframe="5Min", page_token=five["next_page_token"]
    )
    assert ohlcv(five) + ohlcv(five_rest) == [
        ("2025-03-03T14:30:00Z", "20.00", "24.00", "20.00", "24.00", 5),
        ("2025-03-03T14:35:00Z", "25.00", "26.00", "25.00", "26.00", 2),
    ]


async def test_bad_bar_queries_are_problems(market_data_client: httpx.AsyncClient) -> None:
    bad_timeframe = await market_data_client.get(
        "/internal/v1/bars/AAPL", params={"timeframe": "2Min"}
    )
    unknown = await market_data_client.get("/internal/v1/bars/NOPE")
    reversed_range = await market_data_client.get(
        "/internal/v1/bars/AAPL",
        params={"start": at(5, 0).isoformat(), "end": at(0, 0).isoformat()},
    )
    bad_token = await market_data_client.get(
        "/internal/v1/bars/AAPL", params={"page_token": "not-a-token"}
    )

    assert bad_timeframe.status_code == 422
    assert [e["field"] for e in bad_timeframe.json()["errors"]] == ["timeframe"]
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"
    assert reversed_range.status_code == 422
    assert [e["field"] for e in reversed_range.json()["errors"]] == ["start"]
    assert bad_token.status_code == 400
    assert bad_token.json()["type"] == "urn:tradewind:problem:invalid-page-token"


async def test_a_page_token_is_bound_to_its_symbol_and_timeframe(
    market_data_client: httpx.AsyncClient,
) -> None:
    await ingest(
        market_data_client,
        [around("30.00", "TOKEN", at(0, 0)), around("31.00", "TOKEN", at(1, 0))],
    )
    page = await eventually(
        lambda: _page_with_token(market_data_client), message="no second page of TOKEN"
    )

    other_timeframe = await market_data_client.get(
        "/internal/v1/bars/TOKEN", params={"timeframe": "5Min", "page_token": page}
    )
    other_symbol = await market_data_client.get(
        "/internal/v1/bars/AAPL", params={"page_token": page}
    )

    assert other_timeframe.status_code == 400
    assert other_symbol.status_code == 400


async def _page_with_token(client: httpx.AsyncClient) -> str | None:
    token: str | None = (await bars(client, "TOKEN", limit=1))["next_page_token"]
    return token
