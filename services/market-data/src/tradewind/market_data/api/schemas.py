"""Request and response bodies of the internal HTTP API; decimals travel as strings."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tradewind.common.contracts import Instrument
from tradewind.common.contracts.types import DecimalStr, UtcDateTime
from tradewind.market_data.adapters.latest import QuoteSource, StoredQuote
from tradewind.market_data.adapters.store import BarRow
from tradewind.market_data.domain.bars import Timeframe
from tradewind.market_data.domain.feed_supervisor import ProviderHealth, ProviderState
from tradewind.market_data.domain.quotes import QuoteInput

MAX_BATCH_QUOTES = 1_000


class QuoteIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    symbol: str = Field(min_length=1, max_length=16)
    bid_price: DecimalStr
    bid_size: DecimalStr
    ask_price: DecimalStr
    ask_size: DecimalStr
    timestamp: UtcDateTime

    def to_input(self) -> QuoteInput:
        return QuoteInput(
            symbol=self.symbol,
            bid_price=self.bid_price,
            bid_size=self.bid_size,
            ask_price=self.ask_price,
            ask_size=self.ask_size,
            timestamp=self.timestamp,
        )


class QuoteBatchIn(BaseModel):
    quotes: list[QuoteIn] = Field(min_length=1, max_length=MAX_BATCH_QUOTES)


class IngestedQuote(BaseModel):
    symbol: str
    sequence: int
    timestamp: datetime


class IngestResponse(BaseModel):
    accepted: int = Field(description="Valid quotes of the batch: published plus standby.")
    quotes: list[IngestedQuote] = Field(
        description="Each published quote's sequence number, in the batch's order."
    )
    standby: int = Field(
        default=0,
        description="Valid quotes not published because, in the providers chain, another feed "
        "is active for their symbol (0 without a chain).",
    )


class LatestQuote(BaseModel):
    symbol: str
    bid_price: DecimalStr
    bid_size: DecimalStr
    ask_price: DecimalStr
    ask_size: DecimalStr
    timestamp: datetime
    sequence: int = Field(description="Per symbol, assigned by market-data, increasing.")
    source: QuoteSource
    stale: bool = Field(
        description="True when Redis is unreachable and this is the last quote this instance knew."
    )

    @classmethod
    def of(cls, stored: StoredQuote, *, stale: bool) -> LatestQuote:
        quote = stored.quote
        return cls(
            symbol=quote.symbol,
            bid_price=quote.bid_price,
            bid_size=quote.bid_size,
            ask_price=quote.ask_price,
            ask_size=quote.ask_size,
            timestamp=quote.timestamp,
            sequence=stored.sequence,
            source=stored.source,
            stale=stale,
        )


class LatestQuotesResponse(BaseModel):
    quotes: dict[str, LatestQuote] = Field(
        description="By symbol; a symbol without any quote yet is absent."
    )


class BarOut(BaseModel):
    t: datetime = Field(description="Start of the bar (UTC).")
    o: DecimalStr
    h: DecimalStr
    l: DecimalStr  # noqa: E741 - Alpaca's field name
    c: DecimalStr
    v: int = Field(description="Tick volume: the number of distinct quotes in the bar.")

    @classmethod
    def of(cls, row: BarRow) -> BarOut:
        return cls(t=row.start, o=row.open, h=row.high, l=row.low, c=row.close, v=row.volume)


class BarPageResponse(BaseModel):
    symbol: str
    timeframe: Timeframe
    data: list[BarOut]
    next_page_token: str | None = Field(
        description="Pass as page_token for the next page; null on the last page."
    )


class InstrumentsResponse(BaseModel):
    data: list[Instrument]


class ProviderOut(BaseModel):
    name: str
    rank: int = Field(description="Place in the chain, 0 the best.")
    state: ProviderState = Field(
        description="healthy: every symbol it quotes is fresh; degraded: some are stale; stale: "
        "none is fresh (or it never quoted); failing: too many invalid batches in a row."
    )
    role: Literal["active", "standby"] = Field(
        description="active while the published quotes of a symbol come from it."
    )
    active_symbols: list[str]
    quoted_symbols: int = Field(description="Symbols it has quoted since start.")
    fresh_symbols: int = Field(description="Of those, quoted within the staleness.")
    last_quote_age_s: float | None = Field(description="Since its last quote; null: none yet.")
    last_quote_latency_s: float | None = Field(
        description="Arrival time minus timestamp of its last quote (feed delay)."
    )
    gaps: int = Field(
        description="Times it went longer than the staleness without quoting a symbol."
    )
    errors: int = Field(description="Unusable batches since start.")
    consecutive_errors: int
    uptime_ratio: float = Field(
        description="Share of the time since start it was up (not failing, some symbol fresh)."
    )

    @classmethod
    def of(cls, health: ProviderHealth) -> ProviderOut:
        return cls(
            name=health.name,
            rank=health.rank,
            state=health.state,
            role=health.role,
            active_symbols=list(health.active_symbols),
            quoted_symbols=health.quoted_symbols,
            fresh_symbols=health.fresh_symbols,
            last_quote_age_s=health.last_quote_age_s,
            last_quote_latency_s=health.last_latency_s,
            gaps=health.gaps,
            errors=health.errors,
            consecutive_errors=health.consecutive_errors,
            uptime_ratio=health.uptime_ratio,
        )


class ProvidersResponse(BaseModel):
    chain: list[str] = Field(description="The quote feeds, best first; empty: no chain.")
    staleness_s: float | None
    hold_s: float | None
    providers: list[ProviderOut] = Field(description="In chain order.")
