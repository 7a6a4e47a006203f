"""Settings of the market-data service, read from the environment.

Prefix ``TRADEWIND_MARKET_DATA_``; the shared settings keep their own prefix ``TRADEWIND_``.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Self

from pydantic import BeforeValidator, Field, TypeAdapter, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from tradewind.common.contracts import Instrument
from tradewind.common.contracts.types import PositiveDecimalStr
from tradewind.common.settings import HttpSettings, SharedSettings


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


def _symbol_list(value: Any) -> Any:
    # "AAPL,MSFT" as well as '["AAPL", "MSFT"]': operators type the former.
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


SymbolList = Annotated[list[str], NoDecode, BeforeValidator(_symbol_list)]


class MarketDataSettings(HttpSettings):
    """Settings of the market-data service."""

    model_config = SettingsConfigDict(env_prefix="TRADEWIND_MARKET_DATA_", extra="ignore")

    host: str = Field(default="127.0.0.1", description="Interface the HTTP server binds to.")
    port: int = Field(default=8002, ge=1, le=65535, description="Port of the internal HTTP API.")
    database_url: str = Field(
        default="postgresql+asyncpg://postgres@127.0.0.1:5432/tradewind_market_data",
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
        default=True, description="Generate random-walk quotes for the simulator symbols."
    )
    simulator_rate_hz: float = Field(
        default=1.0, gt=0, le=1000, description="Simulated quotes per second for each symbol."
    )
    simulator_seed: int | None = Field(
        default=None,
        description="Seed of the random walk (same seed, same quotes); unset: random, logged.",
    )
    simulator_symbols: SymbolList = Field(
        default_factory=list,
        description="Symbols to simulate, comma-separated or a JSON list; empty: every instrument.",
    )
    simulator_start_prices: dict[str, PositiveDecimalStr] = Field(
        default_factory=lambda: dict(DEFAULT_START_PRICES),
        description='Starting price per symbol as JSON, e.g. {"AAPL": "190"}; others start at 100.',
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
    shared: SharedSettings = Field(
        default_factory=SharedSettings,
        description="Settings every Tradewind process shares (prefix TRADEWIND_).",
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
        return self

    def simulated_instruments(self) -> list[Instrument]:
        if not self.simulator_symbols:
            return list(self.instruments)
        wanted = set(self.simulator_symbols)
        return [instrument for instrument in self.instruments if instrument.symbol in wanted]
