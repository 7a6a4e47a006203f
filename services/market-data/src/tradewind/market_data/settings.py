"""Settings of the market-data service, read from the environment.

Prefix ``TRADEWIND_MARKET_DATA_``; the shared settings keep their own prefix ``TRADEWIND_``.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Self

from pydantic import Field, TypeAdapter, model_validator
from pydantic_settings import SettingsConfigDict

from tradewind.common.contracts import Instrument
from tradewind.common.contracts.types import PositiveDecimalStr
from tradewind.common.service_settings import (
    CommaSeparatedList,
    ServiceSettings,
    TcpPort,
    local_database_url,
)
from tradewind.market_data.domain.feed_supervisor import FailoverPolicy, ProviderName


def _instrument(symbol: str, name: str) -> Instrument:
    return Instrument(
        symbol=symbol,
        name=name,
        tick_size=Decimal("0.01"),
        lot_size=Decimal("1"),
        currency="USD",
    )


DEFAULT_INSTRUMENTS: tuple[Instrument, ...] = (
    _instrument("AAPL", "Apple Inc."),
    _instrument("MSFT", "Microsoft Corporation"),
    _instrument("GOOGL", "Alphabet Inc. Class A"),
    _instrument("AMZN", "Amazon.com, Inc."),
    _instrument("TSLA", "Tesla, Inc."),
    _instrument("SPY", "SPDR S&P 500 ETF Trust"),
)

DEFAULT_START_PRICES: dict[str, Decimal] = {
    "AAPL": Decimal("190"),
    "MSFT": Decimal("420"),
    "GOOGL": Decimal("170"),
    "AMZN": Decimal("185"),
    "TSLA": Decimal("250"),
    "SPY": Decimal("560"),
}

_INSTRUMENT_LIST = TypeAdapter(list[Instrument])


class MarketDataSettings(ServiceSettings):
    """Settings of the market-data service."""

    model_config = SettingsConfigDict(env_prefix="TRADEWIND_MARKET_DATA_")

    port: TcpPort = Field(default=8002, description="Port of the internal HTTP API.")
    database_url: str = Field(
        default=local_database_url("tradewind_market_data"),
        description="SQLAlchemy URL (asyncpg driver) of the market-data database (bars, outbox).",
    )
    instruments: list[Instrument] = Field(
        default_factory=lambda: list(DEFAULT_INSTRUMENTS),
        min_length=1,
        description=(
            "The instruments this service lists, as a JSON list of "
            '{"symbol", "name", "tick_size", "lot_size", "currency"} with decimal strings.'
        ),
    )
    instruments_file: Path | None = Field(
        default=None,
        description="A JSON file holding the instrument list; replaces `instruments` when set.",
    )
    instrument_announce_interval_s: float = Field(
        default=60.0,
        gt=0,
        description="Seconds between two announcements of every instrument (instrument.listed).",
    )
    simulator_enabled: bool = Field(
        default=True,
        description="Generate random-walk quotes for the simulator symbols (without a providers "
        "chain; with one, the chain says).",
    )
    simulator_rate_hz: float = Field(
        default=1.0, gt=0, le=1000, description="Simulated quotes per second for each symbol."
    )
    simulator_seed: int | None = Field(
        default=None,
        description="Seed of the random walk (same seed, same quotes); unset: random, logged.",
    )
    simulator_symbols: CommaSeparatedList[str] = Field(
        default_factory=list,
        description="Symbols to simulate, comma-separated or a JSON list; empty: every instrument.",
    )
    simulator_start_prices: dict[str, PositiveDecimalStr] = Field(
        default_factory=lambda: dict(DEFAULT_START_PRICES),
        description='Starting price per symbol as JSON, e.g. {"AAPL": "190"}; others start at 100.',
    )
    providers: CommaSeparatedList[ProviderName] = Field(
        default_factory=list,
        description="Ordered chain of quote feeds, best first, comma-separated, from simulator, "
        "http (POST /internal/v1/quotes:batch) and replay: only the active feed's quotes of a "
        "symbol are published, the next takes over when it is stale or failing. Empty: no "
        "chain, the simulator (if enabled) and every ingest are published.",
    )
    provider_staleness_s: float = Field(
        default=5.0,
        gt=0,
        description="A feed that has not quoted a symbol for this long is stale for it; the "
        "symbol moves to the next feed of the chain.",
    )
    provider_hold_s: float = Field(
        default=30.0,
        ge=0,
        description="A better feed takes its symbols back once it has quoted them without a gap "
        "or an error for this long (no flapping).",
    )
    provider_failure_threshold: int = Field(
        default=3,
        ge=1,
        description="Invalid batches in a row after which a feed is failing and loses its symbols.",
    )
    replay_file: Path | None = Field(
        default=None,
        description="Recorded quotes (CSV: timestamp,symbol,bid_price,bid_size,ask_price,"
        "ask_size) the replay feed plays in a loop; required when the chain lists replay. "
        "Sample: services/market-data/recordings/sample-quotes.csv.",
    )
    replay_speed: float = Field(
        default=1.0,
        gt=0,
        le=1000,
        description="The replay plays this many times faster than recorded.",
    )
    bar_flush_interval_s: float = Field(
        default=1.0, gt=0, description="Seconds between two writes of the buffered bar updates."
    )
    bar_flush_max_quotes: int = Field(
        default=2_000,
        ge=1,
        description="Buffered quotes that trigger a bar write before the interval.",
    )
    bar_buffer_limit: int = Field(
        default=200_000,
        ge=1,
        description="Quotes kept for bars while the database is unreachable; the oldest go beyond.",
    )
    quote_dedupe_retention_s: float = Field(
        default=6 * 3600.0,
        gt=0,
        description="How long a quote's identity is remembered so that a replay of it is not "
        "counted twice in bar volumes.",
    )
    max_future_skew_s: float = Field(
        default=10.0,
        ge=0,
        description="How far in the future a quote's timestamp may be (feed clock skew).",
    )
    redis_timeout_s: float = Field(
        default=0.5, gt=0, description="Connect and command timeout of Redis calls."
    )
    redis_retry_interval_s: float = Field(
        default=1.0,
        gt=0,
        description="While Redis is unreachable, seconds between two attempts to use it again.",
    )

    @model_validator(mode="after")
    def _resolve_instruments(self) -> Self:
        if self.instruments_file is not None:
            if "instruments" in self.model_fields_set:
                raise ValueError("set instruments or instruments_file, not both")
            raw = self.instruments_file.read_text(encoding="utf-8")
            self.instruments = _INSTRUMENT_LIST.validate_json(raw)
            if not self.instruments:
                raise ValueError(f"{self.instruments_file} lists no instrument")
        symbols = [instrument.symbol for instrument in self.instruments]
        duplicates = sorted({symbol for symbol in symbols if symbols.count(symbol) > 1})
        if duplicates:
            raise ValueError(f"instruments listed twice: {', '.join(duplicates)}")
        self.simulator_symbols = [symbol.upper() for symbol in self.simulator_symbols]
        unknown = sorted(set(self.simulator_symbols) - set(symbols))
        if unknown:
            raise ValueError(f"simulator_symbols not among the instruments: {', '.join(unknown)}")
        self._check_providers()
        return self

    def _check_providers(self) -> None:
        if len(set(self.providers)) != len(self.providers):
            raise ValueError(f"providers lists a feed twice: {','.join(self.providers)}")
        if "replay" in self.providers and self.replay_file is None:
            raise ValueError("the providers chain lists replay: set replay_file")
        if (
            "simulator" in self.providers
            and self.provider_staleness_s <= 1 / self.simulator_rate_hz
        ):
            # Else the simulator would be stale between two of its own quotes.
            raise ValueError("provider_staleness_s must exceed the simulator's quote interval")

    def simulator_runs(self) -> bool:
        """With a chain, the chain says whether the simulator runs; without, simulator_enabled."""
        if self.providers:
            return "simulator" in self.providers
        return self.simulator_enabled

    def failover_policy(self) -> FailoverPolicy | None:
        """The chain's policy; None without a chain (every feed is published)."""
        if not self.providers:
            return None
        return FailoverPolicy(
            chain=tuple(self.providers),
            staleness_s=self.provider_staleness_s,
            hold_s=self.provider_hold_s,
            failure_threshold=self.provider_failure_threshold,
        )

    def simulated_instruments(self) -> list[Instrument]:
        if not self.simulator_symbols:
            return list(self.instruments)
        wanted = set(self.simulator_symbols)
        return [instrument for instrument in self.instruments if instrument.symbol in wanted]
