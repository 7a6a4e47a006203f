"""Helpers of the market-data integration tests: settings on the run's infra, quote payloads,
and a listener bound to the events exchange like any outside consumer."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from aio_pika.abc import AbstractQueue
from fastapi import FastAPI

from support.infra import Infra
from support.polling import eventually
from tradewind.common.app import RUNTIME_STATE
from tradewind.common.broker import Broker, QueueSpec, Topology
from tradewind.common.contracts import Instrument
from tradewind.common.envelope import CloudEvent
from tradewind.common.settings import SharedSettings
from tradewind.market_data.bootstrap import MarketDataRuntime
from tradewind.market_data.settings import DEFAULT_INSTRUMENTS, MarketDataSettings

# Tests share one database and one Redis namespace; each uses its own symbols so that the
# latest quotes, sequence numbers and bars it checks are its own.
TEST_SYMBOLS = (
    "INGEST",
    "INGEST.B",
    "LATEST",
    "REJECT",
    "LATE",
    "PAGED",
    "REPLAY",
    "DOWN",
    "SIM",
    "TOKEN",
    "FAILOVER",
)
INSTRUMENTS = [
    *DEFAULT_INSTRUMENTS,
    *(
        Instrument(
            symbol=symbol, name=f"Test {symbol}", tick_size=Decimal("0.01"), lot_size=Decimal("1")
        )
        for symbol in TEST_SYMBOLS
    ),
]


def settings_for(infra: Infra, database_url: str, **overrides: Any) -> MarketDataSettings:
    fields: dict[str, Any] = {
        "database_url": database_url,
        "instruments": INSTRUMENTS,
        "simulator_enabled": False,
        "bar_flush_interval_s": 0.05,
        "instrument_announce_interval_s": 3600,
        "redis_retry_interval_s": 0.2,
        "shared": SharedSettings(
            namespace=infra.namespace,
            amqp_url=infra.amqp_url,
            redis_url=infra.redis_url,
            log_json=False,
        ),
    }
    fields.update(overrides)
    return MarketDataSettings(**fields)


def runtime(app: FastAPI) -> MarketDataRuntime:
    """The runtime of a started market-data app (what its routes read), typed."""
    running = getattr(app.state, RUNTIME_STATE)
    if not isinstance(running, MarketDataRuntime):
        raise TypeError(f"the app's runtime is a {type(running).__name__}, not MarketDataRuntime")
    return running


def quote_json(
    symbol: str, timestamp: datetime, bid: str, ask: str, *, bid_size: str = "100"
) -> dict[str, str]:
    return {
        "symbol": symbol,
        "bid_price": bid,
        "bid_size": bid_size,
        "ask_price": ask,
        "ask_size": "200",
        "timestamp": timestamp.isoformat(),
    }


def around(mid: str, symbol: str, timestamp: datetime) -> dict[str, str]:
    """A quote one cent either side of ``mid``: its bar price is exactly ``mid``."""
    price = Decimal(mid)
    return quote_json(symbol, timestamp, str(price - Decimal("0.01")), str(price + Decimal("0.01")))


@dataclass(frozen=True)
class Received:
    routing_key: str
    message_id: str | None
    content_type: str | None
    event: CloudEvent


class EventListener:
    """An exclusive queue on the events exchange, read without a consumer (basic.get)."""

    def __init__(self, queue: AbstractQueue) -> None:
        self.queue = queue

    async def next(self, *, timeout: float = 10.0) -> Received:
        async def probe() -> Received | None:
            message = await self.queue.get(no_ack=True, fail=False)
            if message is None:
                return None
            return Received(
                routing_key=message.routing_key or "",
                message_id=message.message_id,
                content_type=message.content_type,
                event=CloudEvent.from_json(message.body),
            )

        return await eventually(probe, timeout=timeout, message="no event arrived")

    async def events(self, count: int) -> list[CloudEvent]:
        return [(await self.next()).event for _ in range(count)]


@asynccontextmanager
async def listening(
    broker: Broker, topology: Topology, *routing_keys: str
) -> AsyncIterator[EventListener]:
    queue = await broker.declare_queue(
        QueueSpec(f"{topology.namespace}.test.market-data.{uuid.uuid4().hex[:8]}", exclusive=True)
    )
    for routing_key in routing_keys:
        await queue.bind(topology.events, routing_key=routing_key)
    try:
        yield EventListener(queue)
    finally:
        await queue.delete(if_unused=False, if_empty=False)
