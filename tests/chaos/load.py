"""The load of a drill: a steady mix of orders through the gateway, and quotes that fill them.

Everything the system answered is written in a ``Ledger``, which the invariants read afterwards:
an order answered 202 is a promise, whatever failed after it.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

import httpx

from support.internal import INTERNAL_HEADERS

log = logging.getLogger(__name__)

CENT = Decimal("0.01")
# The prices the random walk starts from: market-data's default instruments near their prices.
START_PRICES: Mapping[str, Decimal] = {"AAPL": Decimal("190.00"), "MSFT": Decimal("420.00")}


class Action(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"
    CANCEL = "cancel"
    REPLACE = "replace"


# The mix: mostly orders that rest or fill, with enough cancels and replaces to race the fills.
ACTION_WEIGHTS: Mapping[Action, int] = {
    Action.MARKET: 25,
    Action.LIMIT: 35,
    Action.STOP: 12,
    Action.CANCEL: 16,
    Action.REPLACE: 12,
}
# An answer the client may retry with the same Idempotency-Key (the gateway says so for 503; a
# 409 means the first try is still running, or was cut off and its reservation is held).
RETRIED_STATUSES = frozenset({409, 429, 502, 503, 504})


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class PlacedOrder:
    type: str
    symbol: str


@dataclass
class Ledger:
    """What one account asked for and what the gateway answered."""

    place_requests: int = 0
    placed: dict[uuid.UUID, PlacedOrder] = field(default_factory=dict)
    """Every order a POST was answered 202 for."""
    replace_requests: int = 0
    replacements: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)
    """New order id -> the order it replaces, for every PATCH answered 202."""
    cancel_attempts: Counter[uuid.UUID] = field(default_factory=Counter)
    """Every DELETE sent, answered or not: each may have published a cancel command."""
    cancels_accepted: Counter[uuid.UUID] = field(default_factory=Counter)
    answers: Counter[str] = field(default_factory=Counter)
    """What came back ("POST 202", "DELETE 422", "PATCH ConnectError"), for the report."""
    conflicting_answers: list[str] = field(default_factory=list)
    """One Idempotency-Key answered with two different order ids (must stay empty)."""

    @property
    def requests(self) -> int:
        return self.place_requests + self.replace_requests

    @property
    def accepted(self) -> int:
        return len(self.placed) + len(self.replacements)

    def changeable(self) -> list[uuid.UUID]:
        """Orders worth a cancel or a replace: those that may rest (limits, stops, and their
        replacements). Some have filled already: the race is the point.

        A replacement is acted on as soon as its PATCH is answered, before its order.replaced
        arrives: the replace may yet be refused, and the replacement's id must then read
        rejected and refuse a cancel, not stay pending.
        """
        resting = [id_ for id_, order in self.placed.items() if order.type != Action.MARKET]
        return resting + list(self.replacements)

    def original(self, order_id: uuid.UUID) -> PlacedOrder:
        """The placed order that ``order_id`` is, or replaces (through any chain)."""
        while order_id in self.replacements:
            order_id = self.replacements[order_id]
        return self.placed[order_id]


class Market:
    """A random walk per symbol, shared by the quote feed and the order prices."""

    def __init__(self, rng: random.Random, prices: Mapping[str, Decimal] = START_PRICES) -> None:
        self.rng = rng
        self.mids = dict(prices)

    @property
    def symbols(self) -> list[str]:
        return list(self.mids)

    def step(self, symbol: str) -> tuple[Decimal, Decimal]:
        """Move the symbol's mid a little; the new (bid, ask)."""
        mid = self.mids[symbol] * Decimal(math.exp(self.rng.gauss(0, 0.0008)))
        self.mids[symbol] = cents(mid)
        half_spread = CENT * self.rng.randint(1, 3)
        return self.mids[symbol] - half_spread, self.mids[symbol] + half_spread

    def near(self, symbol: str, spread: float) -> Decimal:
        """A price within ``spread`` (a fraction) of the mid, on the cent."""
        return max(CENT, cents(self.mids[symbol] * Decimal(1 + self.rng.uniform(-spread, spread))))


class QuoteFeed:
    """Quotes through market-data's ingest (as a feed sends them), one per symbol each round."""

    def __init__(self, market_data_url: str, market: Market, interval_s: float) -> None:
        self.market = market
        self.interval_s = interval_s
        self.client = httpx.AsyncClient(
            base_url=market_data_url, headers=INTERNAL_HEADERS, timeout=5
        )
        self.ingested = 0
        self.failures: Counter[str] = Counter()
        self.last_success = 0.0
        """time.monotonic() of the last batch market-data accepted."""
        self._clock = datetime.now(UTC)

    async def run(self) -> None:
        while True:
            await self.send_round()
            await asyncio.sleep(self.interval_s)  # the feed's pace, not a synchronisation

    async def send_round(self) -> bool:
        quotes = []
        for symbol in self.market.symbols:
            bid, ask = self.market.step(symbol)
            size = self.market.rng.randint(1, 30)
            quotes.append(
                {
                    "symbol": symbol,
                    "bid_price": str(bid),
                    "bid_size": str(size),
                    "ask_price": str(ask),
                    "ask_size": str(size),
                    "timestamp": self._next_timestamp(),
                }
            )
        try:
            response = await self.client.post("/internal/v1/quotes:batch", json={"quotes": quotes})
        except httpx.HTTPError as exc:
            self.failures[type(exc).__name__] += 1
            return False
        if response.status_code not in (200, 202):
            self.failures[str(response.status_code)] += 1
            return False
        self.ingested += len(quotes)
        self.last_success = time.monotonic()
        return True

    def _next_timestamp(self) -> str:
        # Strictly increasing: market-data keeps the newest quote, and so do we.
        self._clock = max(self._clock + timedelta(milliseconds=1), datetime.now(UTC))
        return self._clock.isoformat()

    async def close(self) -> None:
        await self.client.aclose()


class Trader:
    """One account's client of the gateway: places, cancels and replaces, and keeps the ledger."""

    def __init__(
        self,
        gateway_url: str,
        key: str,
        ledger: Ledger,
        market: Market,
        rng: random.Random,
    ) -> None:
        self.ledger = ledger
        self.market = market
        self.rng = rng
        self.client = httpx.AsyncClient(
            base_url=gateway_url,
            headers={"Authorization": f"Bearer {key}"},
            timeout=5,
            limits=httpx.Limits(max_connections=16),
        )

    async def close(self) -> None:
        await self.client.aclose()

    async def act(self, action: Action) -> None:
        if action is Action.CANCEL:
            await self.cancel()
        elif action is Action.REPLACE:
            await self.replace()
        else:
            await self.place(self.order_body(action))

    def order_body(self, action: Action) -> dict[str, Any]:
        symbol = self.rng.choice(self.market.symbols)
        side = self.rng.choice(("buy", "sell"))
        body: dict[str, Any] = {
            "symbol": symbol,
            "side": side,
            "type": str(action),
            "qty": str(self.rng.randint(1, 10)),
            "time_in_force": "day" if action is Action.MARKET else "gtc",
        }
        if action is Action.LIMIT:
            body["limit_price"] = str(self.market.near(symbol, 0.003))
        elif action is Action.STOP:
            # A stop a little beyond the market, on the side that triggers it as prices move.
            offset = Decimal(1 + self.rng.uniform(0.0005, 0.003) * (1 if side == "buy" else -1))
            body["stop_price"] = str(cents(self.market.mids[symbol] * offset))
        return body

    async def place(self, body: Mapping[str, Any]) -> uuid.UUID | None:
        """POST an order, retried with its Idempotency-Key; its id once answered 202."""
        self.ledger.place_requests += 1
        order = await self._send_idempotent("POST", "/api/v1/orders", body)
        if order is not None:
            self.ledger.placed[order] = PlacedOrder(str(body["type"]), str(body["symbol"]))
        return order

    async def cancel(self) -> None:
        candidates = self.ledger.changeable()
        if not candidates:
            return
        order_id = self.rng.choice(candidates[-50:])
        # Not retried: a cancel carries no key, and a second one would be a second command.
        self.ledger.cancel_attempts[order_id] += 1
        status = await self._send("DELETE", f"/api/v1/orders/{order_id}", None)
        if status == 202:
            self.ledger.cancels_accepted[order_id] += 1

    async def replace(self) -> None:
        candidates = self.ledger.changeable()
        if not candidates:
            return
        order_id = self.rng.choice(candidates[-50:])
        original = self.ledger.original(order_id)
        body: dict[str, Any] = {"qty": str(self.rng.randint(1, 12))}
        if original.type == Action.LIMIT:
            body["limit_price"] = str(self.market.near(original.symbol, 0.003))
        self.ledger.replace_requests += 1
        new_id = await self._send_idempotent("PATCH", f"/api/v1/orders/{order_id}", body)
        if new_id is not None:
            self.ledger.replacements[new_id] = order_id

    async def _send_idempotent(
        self, method: str, path: str, body: Mapping[str, Any]
    ) -> uuid.UUID | None:
        key = uuid.uuid4().hex
        answered: uuid.UUID | None = None
        for attempt in range(3):
            if attempt:
                await asyncio.sleep(0.2 * attempt)  # a client's backoff between retries
            response = await self._request(method, path, body, {"Idempotency-Key": f'"{key}"'})
            if response is None or response.status_code in RETRIED_STATUSES:
                continue
            if response.status_code == 202:
                order_id = uuid.UUID(response.json()["id"])
                if answered is not None and answered != order_id:
                    self.ledger.conflicting_answers.append(f"{key}: {answered} and {order_id}")
                answered = order_id
            break
        return answered

    async def _send(self, method: str, path: str, body: Mapping[str, Any] | None) -> int | None:
        response = await self._request(method, path, body, {})
        return None if response is None else response.status_code

    async def _request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None,
        headers: Mapping[str, str],
    ) -> httpx.Response | None:
        try:
            response = await self.client.request(method, path, json=body, headers=headers)
        except httpx.HTTPError as exc:
            self.ledger.answers[f"{method} {type(exc).__name__}"] += 1
            return None
        self.ledger.answers[f"{method} {response.status_code}"] += 1
        return response


class LoadGenerator:
    """Sends ``rate`` actions a second, at most ``concurrency`` at once, until stopped."""

    def __init__(
        self,
        trader: Trader,
        rate: float,
        concurrency: int = 8,
        weights: Mapping[Action, int] = ACTION_WEIGHTS,
    ) -> None:
        self.trader = trader
        self.interval_s = 1 / rate
        self.slots = asyncio.Semaphore(concurrency)
        self.actions: Sequence[Action] = list(weights)
        self.weights: Sequence[int] = list(weights.values())
        self._in_flight: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        try:
            while True:
                await self.slots.acquire()
                action = self.trader.rng.choices(self.actions, self.weights)[0]
                task = asyncio.create_task(self._act(action))
                self._in_flight.add(task)
                task.add_done_callback(self._in_flight.discard)
                await asyncio.sleep(self.interval_s)  # the load's pace
        finally:
            # What was sent is allowed to finish: its answer belongs in the ledger.
            if self._in_flight:
                await asyncio.gather(*self._in_flight, return_exceptions=True)

    async def _act(self, action: Action) -> None:
        try:
            await self.trader.act(action)
        except Exception:
            log.exception("load action %s failed in the harness", action)
        finally:
            self.slots.release()
