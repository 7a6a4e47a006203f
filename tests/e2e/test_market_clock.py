"""/api/v1/clock and /api/v1/calendar through the gateway, on the default (NYSE) calendar."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import httpx
import pytest

from e2e.harness import System, auth

pytestmark = pytest.mark.e2e


@pytest.fixture
async def key(system: System) -> str:
    return (await system.create_key(f"clock-{uuid.uuid4().hex[:8]}")).secret


async def test_the_clock_says_whether_the_market_is_open_in_new_york_time(
    client: httpx.AsyncClient, key: str
) -> None:
    response = await client.get("/api/v1/clock", headers=auth(key))
    assert response.status_code == 200, response.text
    clock = response.json()
    stamps = {
        name: datetime.fromisoformat(clock[name])
        for name in ("timestamp", "next_open", "next_close")
    }
    for name, stamp in stamps.items():
        assert stamp.utcoffset() in (timedelta(hours=-5), timedelta(hours=-4)), name
    assert stamps["next_open"] > stamps["timestamp"]
    assert stamps["next_close"] > stamps["timestamp"]
    assert clock["is_open"] == (stamps["next_close"] < stamps["next_open"])


async def test_the_calendar_lists_trading_days_with_their_hours(
    client: httpx.AsyncClient, key: str
) -> None:
    response = await client.get(
        "/api/v1/calendar", params={"start": "2026-11-23", "end": "2026-11-29"}, headers=auth(key)
    )
    assert response.status_code == 200, response.text
    assert response.json() == [
        {"date": "2026-11-23", "open": "09:30", "close": "16:00"},
        {"date": "2026-11-24", "open": "09:30", "close": "16:00"},
        {"date": "2026-11-25", "open": "09:30", "close": "16:00"},
        {"date": "2026-11-27", "open": "09:30", "close": "13:00"},
    ], "Thanksgiving and the weekend left out, the day after closing early"


@pytest.mark.parametrize(
    "params",
    [
        {"start": "2026-12-10", "end": "2026-12-01"},
        {"start": "2026-01-01", "end": "2027-06-01"},
        {"start": "1999-12-31"},
        {"end": "2101-01-01"},
        {"start": "2026-13-01"},
    ],
)
async def test_a_range_the_calendar_cannot_answer_is_a_problem(
    client: httpx.AsyncClient, key: str, params: dict[str, str]
) -> None:
    response = await client.get("/api/v1/calendar", params=params, headers=auth(key))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
