"""Latest quote per symbol and per-symbol sequence numbers, in Redis, with a memory fallback.

Redis is the truth shared by every instance. One Lua script per batch takes each quote's sequence
number (INCR of the symbol's counter) and replaces the symbol's latest quote if the new one is more
recent, atomically. A quote that arrives late never replaces a newer one.

When Redis is unreachable the service degrades instead of failing: reads answer from the last
values this process knows (``stale``), and sequence numbers continue from this process's last
known number. Every script call passes that number as a floor, so when Redis returns (or comes
back empty) its counter jumps past what this process handed out and numbers never go backwards
here. The first successful call after an outage also writes the quotes this process saw during
the outage back into Redis. A circuit breaker keeps calls from waiting on a dead Redis: while it
is open, calls go straight to memory, and one probe per retry interval tests Redis again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Literal, TypeVar

from redis.asyncio import Redis
from redis.exceptions import RedisError

from tradewind.common.health import Degraded
from tradewind.common.resilience import CircuitBreaker, CircuitOpenError
from tradewind.market_data.domain.quotes import QuoteInput
from tradewind.market_data.metrics import REDIS_DEGRADED

log = logging.getLogger(__name__)

T = TypeVar("T")
QuoteSource = Literal["simulator", "ingest", "replay"]
_SOURCES: tuple[QuoteSource, ...] = ("simulator", "ingest", "replay")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

# Shared by both scripts: store the quote at ARGV[a+2 .. a+8] if newer than the stored one.
_STORE_IF_NEWER = """
local function store_if_newer(latest_key, a, sequence)
  local stored = tonumber(redis.call('HGET', latest_key, 'ts_us'))
  if stored == nil or tonumber(ARGV[a + 2]) > stored then
    redis.call('HSET', latest_key,
      'ts_us', ARGV[a + 2], 'timestamp', ARGV[a + 3],
      'bid_price', ARGV[a + 4], 'bid_size', ARGV[a + 5],
      'ask_price', ARGV[a + 6], 'ask_size', ARGV[a + 7],
      'source', ARGV[a + 8], 'sequence', string.format('%d', sequence))
  end
end
"""

# KEYS: (sequence key, latest key) per quote. ARGV: 8 per quote, the floor (this process's last
# known sequence) and the fields of _script_args. Returns the sequence number of each quote.
_RECORD = (
    _STORE_IF_NEWER
    + """
local sequences = {}
for i = 1, #KEYS / 2 do
  local a = (i - 1) * 8
  local floor = tonumber(ARGV[a + 1])
  local sequence = redis.call('INCR', KEYS[2 * i - 1])
  if sequence <= floor then
    sequence = floor + 1
    redis.call('SET', KEYS[2 * i - 1], string.format('%d', sequence))
  end
  store_if_newer(KEYS[2 * i], a, sequence)
  sequences[i] = sequence
end
return sequences
"""
)

# Write back what this process knows after an outage, never lowering a counter or replacing a
# newer quote. KEYS as above; ARGV: 9 per quote, the quote's own sequence and fields as above,
# then the last sequence this process handed out for the symbol.
_WRITE_BACK = (
    _STORE_IF_NEWER
    + """
for i = 1, #KEYS / 2 do
  local a = (i - 1) * 9
  local counter = tonumber(redis.call('GET', KEYS[2 * i - 1])) or 0
  if counter < tonumber(ARGV[a + 9]) then
    redis.call('SET', KEYS[2 * i - 1], ARGV[a + 9])
  end
  store_if_newer(KEYS[2 * i], a, tonumber(ARGV[a + 1]))
end
return #KEYS / 2
"""
)


@dataclass(frozen=True)
class StoredQuote:
    quote: QuoteInput
    sequence: int
    source: QuoteSource


@dataclass(frozen=True)
class LatestQuotesView:
    quotes: dict[str, StoredQuote]
    # True when Redis could not be read and the quotes are this process's last known ones.
    stale: bool


class RedisUnavailable(ConnectionError):
    """Redis did not answer (or its breaker is open); memory answers instead."""


class LatestQuotes:
    def __init__(self, redis: Redis, *, namespace: str, retry_interval_s: float) -> None:
        self.redis = redis
        self.namespace = namespace
        self.breaker = CircuitBreaker(
            "market-data.redis", failure_threshold=1, recovery_timeout=retry_interval_s
        )
        self._record_script = redis.register_script(_RECORD)
        self._write_back_script = redis.register_script(_WRITE_BACK)
        self._latest: dict[str, StoredQuote] = {}
        self._last_sequence: dict[str, int] = {}
        self._degraded = False

    # --- keys ---

    def sequence_key(self, symbol: str) -> str:
        return f"{self.namespace}:market-data:sequence:{symbol}"

    def latest_key(self, symbol: str) -> str:
        return f"{self.namespace}:market-data:latest:{symbol}"

    # --- operations ---

    @property
    def degraded(self) -> bool:
        return self._degraded

    async def record(self, quotes: Sequence[QuoteInput], source: QuoteSource) -> list[int]:
        """Give each quote its sequence number and keep the latest quote of each symbol."""
        keys: list[str] = []
        args: list[str] = []
        for quote in quotes:
            keys += [self.sequence_key(quote.symbol), self.latest_key(quote.symbol)]
            args += _script_args(self._last_sequence.get(quote.symbol, 0), quote, source)
        try:
            raw = await self._call(lambda: self._record_script(keys=keys, args=args))
            sequences = [int(sequence) for sequence in raw]
        except RedisUnavailable:
            sequences = [self._next_local_sequence(quote.symbol) for quote in quotes]
        for quote, sequence in zip(quotes, sequences, strict=True):
            self._remember(StoredQuote(quote, sequence, source))
        return sequences

    async def get(self, symbols: Sequence[str]) -> LatestQuotesView:
        async def read() -> list[dict[str, str]]:
            async with self.redis.pipeline(transaction=False) as pipe:
                for symbol in symbols:
                    pipe.hgetall(self.latest_key(symbol))
                return list(await pipe.execute())

        try:
            hashes = await self._call(read)
        except RedisUnavailable:
            return LatestQuotesView(self._known(symbols), stale=True)
        for symbol, fields in zip(symbols, hashes, strict=True):
            if fields:
                self._remember(_stored_quote(symbol, fields))
        return LatestQuotesView(self._known(symbols), stale=False)

    async def check(self) -> None:
        """Readiness: Degraded while Redis cannot be used (quotes are then served stale)."""
        try:
            await self._call(self.redis.ping)
        except RedisUnavailable as exc:
            raise Degraded("redis unavailable, serving last known quotes") from exc

    # --- Redis calls through the breaker ---

    async def _call(self, operation: Callable[[], Awaitable[T]]) -> T:
        try:
            async with self.breaker.guard():
                if self._degraded:
                    await self._write_back()
                result = await operation()
        except CircuitOpenError as exc:
            raise RedisUnavailable(str(exc)) from exc
        except (RedisError, OSError) as exc:
            if not self._degraded:
                log.warning(
                    "redis unreachable; serving latest quotes from memory",
                    extra={"error": repr(exc)},
                )
            self._set_degraded(True)
            raise RedisUnavailable(repr(exc)) from exc
        if self._degraded:
            log.info("redis reachable again; latest quotes are fresh")
            self._set_degraded(False)
        return result

    async def _write_back(self) -> None:
        if not self._latest:
            return
        keys: list[str] = []
        args: list[str] = []
        for symbol, stored in self._latest.items():
            keys += [self.sequence_key(symbol), self.latest_key(symbol)]
            args += _script_args(stored.sequence, stored.quote, stored.source)
            args.append(str(max(stored.sequence, self._last_sequence.get(symbol, 0))))
        await self._write_back_script(keys=keys, args=args)

    def _set_degraded(self, degraded: bool) -> None:
        self._degraded = degraded
        REDIS_DEGRADED.set(1 if degraded else 0)

    # --- memory ---

    def _next_local_sequence(self, symbol: str) -> int:
        sequence = self._last_sequence.get(symbol, 0) + 1
        self._last_sequence[symbol] = sequence
        return sequence

    def _remember(self, stored: StoredQuote) -> None:
        symbol = stored.quote.symbol
        self._last_sequence[symbol] = max(self._last_sequence.get(symbol, 0), stored.sequence)
        current = self._latest.get(symbol)
        if current is None or stored.quote.timestamp > current.quote.timestamp:
            self._latest[symbol] = stored

    def _known(self, symbols: Sequence[str]) -> dict[str, StoredQuote]:
        return {symbol: self._latest[symbol] for symbol in symbols if symbol in self._latest}


def _script_args(sequence: int, quote: QuoteInput, source: QuoteSource) -> list[str]:
    return [
        str(sequence),
        str((quote.timestamp - _EPOCH) // _MICROSECOND),
        quote.timestamp.isoformat(),
        format(quote.bid_price, "f"),
        format(quote.bid_size, "f"),
        format(quote.ask_price, "f"),
        format(quote.ask_size, "f"),
        source,
    ]


def _stored_quote(symbol: str, fields: dict[str, str]) -> StoredQuote:
    source: QuoteSource = next((known for known in _SOURCES if known == fields["source"]), "ingest")
    return StoredQuote(
        quote=QuoteInput(
            symbol=symbol,
            bid_price=Decimal(fields["bid_price"]),
            bid_size=Decimal(fields["bid_size"]),
            ask_price=Decimal(fields["ask_price"]),
            ask_size=Decimal(fields["ask_size"]),
            timestamp=datetime.fromisoformat(fields["timestamp"]),
        ),
        sequence=int(fields["sequence"]),
        source=source,
    )
