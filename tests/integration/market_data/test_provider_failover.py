"""A providers chain through the real path (Redis, RabbitMQ, the app through its lifespan): the
HTTP feed stops, the replay takes the symbol over, the HTTP feed comes back and takes it back
after the hold; the quotes an outside consumer receives keep one unbroken sequence through both
switches, and each feed's health shows on the JSON endpoint, in readiness and in the metrics."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from integration.market_data.market_data_helpers import (
    EventListener,
    listening,
    quote_json,
    settings_for,
)
from support.infra import Infra
from support.internal import INTERNAL_HEADERS
from support.polling import eventually
from tradewind.common.broker import Broker
from tradewind.common.contracts import Quote
from tradewind.common.contracts.types import utc_now
from tradewind.common.envelope import CloudEvent
from tradewind.market_data.app import create_app

SYMBOL = "FAILOVER"
BATCH = "/internal/v1/quotes:batch"
PROVIDERS = "/internal/v1/providers"
# Short enough for a quick test, long enough that a busy machine does not make a steady feed
# look stale: the HTTP feed below quotes every 50 ms, the replay every 100 ms.
STALENESS_S = 0.75
HOLD_S = 1.0
HTTP_INTERVAL_S = 0.05
DEADLINE_S = 20.0


def recording(path: Path) -> Path:
    """Two seconds of quotes of SYMBOL, 100 ms apart (the replay loops over them)."""
    rows = ["timestamp,symbol,bid_price,bid_size,ask_price,ask_size"]
    for step in range(20):
        cents = 5000 + step % 5
        rows.append(
            f"2025-03-03T14:30:{step // 10:02d}.{step % 10}00000Z,{SYMBOL},"
            f"{cents / 100:.2f},100,{(cents + 2) / 100:.2f},100"
        )
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@dataclass
class HttpFeed:
    """A feed posting one quote of SYMBOL every 50 ms while it is on, keeping every answer."""

    client: httpx.AsyncClient
    on: asyncio.Event = field(default_factory=asyncio.Event)
    idle: asyncio.Event = field(default_factory=asyncio.Event)
    answers: list[dict[str, Any]] = field(default_factory=list)

    async def run(self) -> None:
        while True:
            self.idle.set()
            await self.on.wait()
            self.idle.clear()
            response = await self.client.post(
                BATCH, json={"quotes": [quote_json(SYMBOL, utc_now(), "10.00", "10.02")]}
            )
            assert response.status_code == 200, response.text
            self.answers.append(response.json())
            # The feed's own pace (a feed quotes at its rate), not a wait for a condition.
            await asyncio.sleep(HTTP_INTERVAL_S)

    async def pause(self) -> None:
        """Stop sending, once the quote in flight (if any) is answered and recorded."""
        self.on.clear()
        await self.idle.wait()

    def published_since(self, index: int) -> list[int]:
        return [q["sequence"] for answer in self.answers[index:] for q in answer["quotes"]]


@pytest.fixture
async def chain_app(
    infra: Infra, market_data_database_url: str, tmp_path: Path
) -> AsyncIterator[tuple[FastAPI, EventListener]]:
    settings = settings_for(
        infra,
        market_data_database_url,
        providers=["http", "replay"],
        replay_file=recording(tmp_path / "failover.csv"),
        provider_staleness_s=STALENESS_S,
        provider_hold_s=HOLD_S,
    )
    # Listen before the service starts, so the consumer sees the symbol's first quote.
    listener_broker = Broker.from_settings(settings.shared, service="test-listener")
    await listener_broker.connect()
    try:
        async with listening(
            listener_broker, listener_broker.topology, f"market.quote.{SYMBOL}"
        ) as inbox:
            app = create_app(settings)
            async with app.router.lifespan_context(app):
                yield app, inbox
    finally:
        await listener_broker.close()


async def providers(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    response = await client.get(PROVIDERS)
    assert response.status_code == 200, response.text
    return {provider["name"]: provider for provider in response.json()["providers"]}


async def active_for(client: httpx.AsyncClient, provider: str) -> dict[str, dict[str, Any]] | None:
    report = await providers(client)
    return report if SYMBOL in report[provider]["active_symbols"] else None


MetricKey = tuple[str, tuple[tuple[str, str], ...]]


def gauge(name: str, provider: str) -> MetricKey:
    return (f"tradewind_market_data_provider_{name}", (("provider", provider),))


def counter(name: str, **labels: str) -> MetricKey:
    return (f"tradewind_market_data_provider_{name}_total", tuple(sorted(labels.items())))


def metric_values(text: str) -> dict[MetricKey, float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith("tradewind_market_data_provider_")
    }


async def drain(inbox: EventListener, into: list[CloudEvent]) -> None:
    while (message := await inbox.queue.get(no_ack=True, fail=False)) is not None:
        into.append(CloudEvent.from_json(message.body))


async def test_the_chain_fails_over_to_the_replay_and_back_with_no_gap_in_the_sequence(
    chain_app: tuple[FastAPI, EventListener], infra: Infra
) -> None:
    app, inbox = chain_app
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://market-data", headers=INTERNAL_HEADERS
    ) as client:
        feed = HttpFeed(client)
        sender = asyncio.create_task(feed.run())
        try:
            # 1. The HTTP feed, first in the chain, publishes the symbol.
            feed.on.set()
            await eventually(
                lambda: active_for(client, "http"),
                timeout=DEADLINE_S,
                message="the http feed never became active",
            )

            # 2. It stops: once stale, the replay takes the symbol over.
            await feed.pause()
            report = await eventually(
                lambda: active_for(client, "replay"),
                timeout=DEADLINE_S,
                message="the replay never took over",
            )
            assert report["http"]["role"] == "standby"
            ready = (await client.get("/health/ready")).json()
            assert ready["status"] == "degraded"
            assert ready["checks"]["feed.http"] == {
                "status": "degraded",
                "detail": "stale (standby)",
            }
            assert ready["checks"]["feed.replay"] == {"status": "up"}

            # 3. It comes back: standby through the hold, then it takes the symbol back.
            resumed_at = len(feed.answers)
            feed.on.set()
            report = await eventually(
                lambda: active_for(client, "http"),
                timeout=DEADLINE_S,
                message="the http feed never took the symbol back",
            )

            async def published_after_recovery() -> list[int]:
                return feed.published_since(resumed_at)

            await eventually(
                published_after_recovery,
                timeout=DEADLINE_S,
                message="no http quote was published after the recovery",
            )

            # The gauges, refreshed in the background, show the same while the feed is on.
            async def gauges_show_http_active() -> bool:
                now = metric_values((await client.get("/metrics")).text)
                return (
                    now[gauge("active_symbols", "http")] == 1
                    and now[gauge("up", "http")] == 1
                    and now[gauge("uptime_ratio", "replay")] > 0
                )

            await eventually(
                gauges_show_http_active, timeout=DEADLINE_S, message="gauges not refreshed"
            )
            await feed.pause()
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender

        # Quotes sent during the hold were refused publication, not sequenced.
        assert any(answer["standby"] == 1 for answer in feed.answers[resumed_at:])
        assert report["http"]["gaps"] >= 1
        assert report["replay"]["role"] == "standby"
        assert 0 < report["replay"]["uptime_ratio"] <= 1
        assert report["http"]["last_quote_latency_s"] is not None
        metrics = metric_values((await client.get("/metrics")).text)
        assert metrics[counter("switches", provider="replay", reason="stale")] >= 1
        assert metrics[counter("switches", provider="http", reason="recovered")] >= 1
        assert metrics[counter("gaps", provider="http")] >= 1
        assert metrics[counter("quotes", outcome="standby", provider="http")] >= 1

    # Every sequence number handed out reaches the consumer exactly once, whichever feed the
    # quote came from: no gap and no repeat through both switches.
    redis = aioredis.from_url(infra.redis_url, decode_responses=True)
    try:
        last = int(await redis.get(f"{infra.namespace}:market-data:sequence:{SYMBOL}") or 0)
    finally:
        await redis.aclose()
    received: list[CloudEvent] = []
    missing: set[int] = set()

    async def nothing_missing() -> bool:
        await drain(inbox, received)
        missing.clear()
        missing.update(set(range(1, last + 1)) - {e.data_as(Quote).sequence for e in received})
        return not missing

    try:
        await eventually(nothing_missing, timeout=DEADLINE_S)
    except AssertionError:
        raise AssertionError(f"sequence numbers never published: {sorted(missing)}") from None
    quotes = sorted((event.data_as(Quote) for event in received), key=lambda q: q.sequence)
    sequences = [quote.sequence for quote in quotes]
    assert sequences == list(range(1, len(sequences) + 1))
    runs: list[str] = []
    for quote in quotes:
        if not runs or runs[-1] != quote.source:
            runs.append(quote.source)
    if runs[0] == "replay":
        # The HTTP feed's first quote came after the start's warm-up (a busy machine): the
        # replay had the symbol until the HTTP feed had been steady for the hold.
        runs = runs[1:]
    # After the feed stopped for good the replay may have taken over once more.
    assert runs[:3] == ["ingest", "replay", "ingest"]
    assert runs[3:] in ([], ["replay"])
    published_by_http = {q["sequence"] for answer in feed.answers for q in answer["quotes"]}
    assert published_by_http == {quote.sequence for quote in quotes if quote.source == "ingest"}
