"""Instruments: announced as instrument.listed at start and periodically; listed over HTTP."""

from __future__ import annotations

from collections import Counter

import httpx
from fastapi import FastAPI

from integration.market_data.market_data_helpers import (
    INSTRUMENTS,
    listening,
    runtime,
    settings_for,
)
from support.infra import Infra
from support.internal import INTERNAL_HEADERS
from tradewind.common.broker import Broker, Topology
from tradewind.common.contracts import InstrumentListed
from tradewind.market_data.app import create_app


async def test_every_instrument_is_announced_at_start_and_again_later(
    infra: Infra, market_data_database_url: str
) -> None:
    # An outside subscriber, bound before the service starts.
    topology = Topology(infra.namespace)
    subscriber = Broker(infra.amqp_url, topology, service="test-subscriber")
    await subscriber.connect()
    app = create_app(
        settings_for(infra, market_data_database_url, instrument_announce_interval_s=0.2)
    )
    try:
        async with (
            listening(subscriber, topology, "instrument.listed") as inbox,
            app.router.lifespan_context(app),
        ):
            announced: Counter[str] = Counter()
            while min(announced[i.symbol] for i in INSTRUMENTS) < 2:
                received = await inbox.next()
                event = received.event
                listed = event.data_as(InstrumentListed).instrument
                assert received.routing_key == "instrument.listed"
                assert event.type == "instrument.listed"
                assert event.source == "/tradewind/market-data"
                assert event.subject == listed.symbol
                assert listed in INSTRUMENTS
                announced[listed.symbol] += 1
    finally:
        await subscriber.close()

    assert set(announced) == {instrument.symbol for instrument in INSTRUMENTS}


async def test_instruments_are_listed(market_data_client: httpx.AsyncClient) -> None:
    listing = await market_data_client.get("/internal/v1/instruments")
    one = await market_data_client.get("/internal/v1/instruments/aapl")
    unknown = await market_data_client.get("/internal/v1/instruments/NOPE")

    assert listing.status_code == 200
    assert [i["symbol"] for i in listing.json()["data"]] == [i.symbol for i in INSTRUMENTS]
    assert one.json() == {
        "symbol": "AAPL",
        "name": "Apple Inc.",
        "tick_size": "0.01",
        "lot_size": "1",
        "currency": "USD",
    }
    assert unknown.status_code == 404
    assert unknown.json()["type"] == "urn:tradewind:problem:not-found"


async def test_the_simulator_feeds_the_same_path(
    infra: Infra, market_data_database_url: str
) -> None:
    app: FastAPI = create_app(
        settings_for(
            infra,
            market_data_database_url,
            simulator_enabled=True,
            simulator_symbols=["SIM"],
            simulator_rate_hz=50,
            simulator_seed=1,
        )
    )
    async with app.router.lifespan_context(app):
        service = runtime(app)
        async with listening(service.broker, service.topology, "market.quote.SIM") as inbox:
            event = (await inbox.next()).event
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://md", headers=INTERNAL_HEADERS
        ) as client:
            latest = (await client.get("/internal/v1/quotes/SIM/latest")).json()

    assert event.data["source"] == "simulator"
    assert latest["source"] == "simulator"
    assert latest["sequence"] >= 1
