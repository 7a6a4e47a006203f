"""A seeded random-walk quote generator, and the loop that feeds its quotes to the pipeline.

Each symbol has its own random stream seeded from (seed, symbol): the same seed gives the same
quotes, and adding or removing a symbol does not change the others'. Prices move in whole ticks
(integer arithmetic, never floats), so every quote is on the tick and bid < ask.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from tradewind.common import flags
from tradewind.common.contracts import Instrument
from tradewind.common.flags import Fault
from tradewind.market_data.domain.quotes import QuoteInput

log = logging.getLogger(__name__)

DEFAULT_START_PRICE = Decimal("100")
MAX_STEP_TICKS = 3
MAX_SPREAD_TICKS = 3
MAX_SIZE_ROUND_LOTS = 20
ROUND_LOT = 100


@dataclass
class _Walk:
    instrument: Instrument
    rng: random.Random
    bid_ticks: int
    floor_ticks: int


class QuoteSimulator:
    def __init__(
        self,
        instruments: Sequence[Instrument],
        *,
        seed: int,
        start_prices: Mapping[str, Decimal] | None = None,
    ) -> None:
        self.seed = seed
        start_prices = start_prices or {}
        self._walks: dict[str, _Walk] = {}
        for instrument in instruments:
            start = start_prices.get(instrument.symbol, DEFAULT_START_PRICE)
            start_ticks = max(1, int(start / instrument.tick_size))
            self._walks[instrument.symbol] = _Walk(
                instrument=instrument,
                rng=random.Random(f"{seed}:{instrument.symbol}"),
                bid_ticks=start_ticks,
                floor_ticks=max(1, start_ticks // 10),
            )

    @property
    def symbols(self) -> list[str]:
        return list(self._walks)

    def next_quote(self, symbol: str, timestamp: datetime) -> QuoteInput:
        walk = self._walks[symbol]
        rng = walk.rng
        walk.bid_ticks = max(
            walk.floor_ticks, walk.bid_ticks + rng.randint(-MAX_STEP_TICKS, MAX_STEP_TICKS)
        )
        spread_ticks = rng.randint(1, MAX_SPREAD_TICKS)
        tick = walk.instrument.tick_size
        lot = walk.instrument.lot_size
        return QuoteInput(
            symbol=symbol,
            bid_price=walk.bid_ticks * tick,
            bid_size=rng.randint(1, MAX_SIZE_ROUND_LOTS) * ROUND_LOT * lot,
            ask_price=(walk.bid_ticks + spread_ticks) * tick,
            ask_size=rng.randint(1, MAX_SIZE_ROUND_LOTS) * ROUND_LOT * lot,
            timestamp=timestamp,
        )

    def next_quotes(self, timestamp: datetime) -> list[QuoteInput]:
        """One quote per symbol, all stamped ``timestamp``."""
        return [self.next_quote(symbol, timestamp) for symbol in self._walks]


class SimulatorFeed:
    """Ticks every symbol ``rate_hz`` times a second into ``ingest`` until cancelled."""

    def __init__(
        self,
        simulator: QuoteSimulator,
        ingest: Callable[[Sequence[QuoteInput]], Awaitable[object]],
        *,
        rate_hz: float,
        clock: Callable[[], datetime],
    ) -> None:
        self.simulator = simulator
        self.ingest = ingest
        self.interval_s = 1.0 / rate_hz
        self.clock = clock

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        log.info(
            "quote simulator started",
            extra={
                "seed": self.simulator.seed,
                "symbols": self.simulator.symbols,
                "interval_s": self.interval_s,
            },
        )
        next_tick = loop.time()
        while True:
            try:
                # The fault flag marketData.feedPaused skips ticks: no quotes, prices hold still.
                if not flags.fault_on(Fault.MARKET_DATA_FEED_PAUSED):
                    await self.ingest(self.simulator.next_quotes(self.clock()))
            except Exception as exc:
                log.warning("simulated quotes were not ingested", extra={"error": repr(exc)})
            next_tick += self.interval_s
            delay = next_tick - loop.time()
            if delay <= 0:
                # Behind schedule: carry on from now rather than bursting to catch up.
                next_tick = loop.time()
                await asyncio.sleep(0)
            else:
                await asyncio.sleep(delay)
