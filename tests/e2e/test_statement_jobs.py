"""Issue 12, background jobs and activities end to end: fills become activities, a statement job
is requested, polled, downloaded and announced by webhook; a high-priority job overtakes the
normal ones waiting; another account sees none of it."""

from __future__ import annotations

import csv
import io
import signal
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from e2e.harness import System, auth
from e2e.trading import ingest, quote
from support.polling import eventually
from support.webhook_receiver import WebhookReceiver, serving_webhook_receiver

pytestmark = pytest.mark.e2e

SYMBOL = "TSLA"
TODAY = datetime.now(UTC).date()
STATEMENT = {
    "start": (TODAY - timedelta(days=1)).isoformat(),
    "end": (TODAY + timedelta(days=1)).isoformat(),
}


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with serving_webhook_receiver() as receiver:
        yield receiver


async def new_key(system: System) -> str:
    return (await system.create_key(f"j-{uuid.uuid4().hex[:8]}")).secret


async def market_buy(system: System, client: httpx.AsyncClient, key: str, qty: str) -> str:
    """A market buy, filled: quotes keep coming until it is (on a busy machine the quote it
    arrives with may be too old to trade on)."""
    await ingest(system, quote(SYMBOL, "249.5", "250.25", ask_size="1000"))
    placed = await client.post(
        "/api/v1/orders",
        json={"symbol": SYMBOL, "side": "buy", "type": "market", "qty": qty},
        headers=auth(key),
    )
    assert placed.status_code == 202, placed.text
    order_id: str = placed.json()["id"]

    async def filled() -> bool:
        order = (await client.get(f"/api/v1/orders/{order_id}", headers=auth(key))).json()
        if order["status"] == "filled":
            return True
        await ingest(system, quote(SYMBOL, "249.5", "250.25", ask_size="1000"))
        return False

    await eventually(filled, timeout=20, interval=0.2, message="the market order never filled")
    return order_id


async def request_statement(
    client: httpx.AsyncClient, key: str, **fields: Any
) -> tuple[str, dict[str, Any]]:
    response = await client.post(
        "/api/v1/account/statements", json={**STATEMENT, **fields}, headers=auth(key)
    )
    assert response.status_code == 202, response.text
    return response.headers["Location"], response.json()


async def finished_job(client: httpx.AsyncClient, key: str, location: str) -> dict[str, Any]:
    async def finished() -> dict[str, Any] | None:
        job: dict[str, Any] = (await client.get(location, headers=auth(key))).json()
        return job if job["status"] in ("succeeded", "failed") else None

    return await eventually(finished, timeout=30, interval=0.1, message="job never finished")


@contextmanager
def orders_paused(system: System) -> Iterator[None]:
    """The orders process stopped (SIGSTOP), so what is published meanwhile waits in its queues;
    continued (SIGCONT) on the way out, whatever happens."""
    process = system.orders.process
    assert process is not None
    process.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        process.send_signal(signal.SIGCONT)


async def test_a_statement_job_end_to_end(
    system: System, client: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    key, stranger = await new_key(system), await new_key(system)
    endpoint = await client.post(
        "/api/v1/webhooks/endpoints",
        json={"url": receiver.url, "event_types": ["job.*"]},
        headers=auth(key),
    )
    assert endpoint.status_code == 201, endpoint.text
    first, second = (
        await market_buy(system, client, key, "2"),
        await market_buy(system, client, key, "3"),
    )

    listed = await client.get("/api/v1/account/activities", headers=auth(key))
    assert listed.status_code == 200, listed.text
    activities = listed.json()["data"]
    assert [(a["order_id"], a["qty"], a["cum_qty"], a["leaves_qty"]) for a in activities] == [
        (second, "3", "3", "0"),
        (first, "2", "2", "0"),
    ]

    location, queued = await request_statement(client, key)
    assert queued["status"] == "queued"
    assert location == f"/api/v1/jobs/{queued['id']}"
    job = await finished_job(client, key, location)
    assert job["status"] == "succeeded", job
    assert job["progress"] == 1
    assert job["download_url"] == f"{location}/file"

    download = await client.get(job["download_url"], headers=auth(key))
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert [row["id"] for row in rows] == [a["id"] for a in reversed(activities)]
    assert [(Decimal(row["qty"]), Decimal(row["price"])) for row in rows] == [
        (Decimal(a["qty"]), Decimal(a["price"])) for a in reversed(activities)
    ]

    async def announced() -> dict[str, Any] | None:
        return next((b for b in receiver.bodies() if b["type"] == "job.succeeded"), None)

    event = await eventually(announced, timeout=15, message="no job.succeeded webhook")
    assert event["data"]["job"]["id"] == job["id"]
    assert event["data"]["rows"] == 2

    # Another account: no such job, no such file, none of these activities.
    assert (await client.get(location, headers=auth(stranger))).status_code == 404
    assert (await client.get(f"{location}/file", headers=auth(stranger))).status_code == 404
    theirs = await client.get("/api/v1/account/activities", headers=auth(stranger))
    assert theirs.json()["data"] == []


async def test_a_job_not_due_yet_is_queued_and_its_file_a_409(
    system: System, client: httpx.AsyncClient
) -> None:
    key = await new_key(system)
    later = (datetime.now(UTC) + timedelta(seconds=30)).isoformat()
    location, _ = await request_statement(client, key, not_before=later)

    early = await client.get(f"{location}/file", headers=auth(key))

    assert early.status_code == 409
    assert early.json()["type"] == "urn:tradewind:problem:job-not-ready"
    assert (await client.get(location, headers=auth(key))).json()["status"] == "queued"


async def test_a_statement_longer_than_a_year_is_a_422(
    system: System, client: httpx.AsyncClient
) -> None:
    key = await new_key(system)
    response = await client.post(
        "/api/v1/account/statements",
        json={"start": "2025-01-01", "end": "2026-01-02"},
        headers=auth(key),
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_high_priority_statement_overtakes_the_normal_ones_waiting(
    system: System, client: httpx.AsyncClient
) -> None:
    key = await new_key(system)
    with orders_paused(system):
        # The paused worker still takes one job (prefetch 1: the broker sends it the first one
        # published); the others wait in the queue, where priorities order them.
        normal = [await request_statement(client, key) for _ in range(4)]
        high = await request_statement(client, key, priority="high")

    jobs = {location: await finished_job(client, key, location) for location, _ in normal}
    jobs[high[0]] = await finished_job(client, key, high[0])

    assert all(job["status"] == "succeeded" for job in jobs.values())
    started = sorted(jobs, key=lambda location: jobs[location]["started_at"])
    waiting = [location for location, _ in normal[1:]]
    assert started.index(high[0]) <= 1  # after the one the paused worker held, if any
    assert [location for location in started if location in waiting] == waiting
    assert all(started.index(high[0]) < started.index(location) for location in waiting)
