"""Market data contracts: instruments and quotes."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from tradewind.common.contracts.orders import Contract
from tradewind.common.contracts.types import DecimalStr, PositiveDecimalStr, UtcDateTime

QUOTE_ROUTING_PREFIX = "market.quote."


class Instrument(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    symbol: str = Field(pattern=r"^[A-Z][A-Z0-9.]{0,15}$")
    name: str
    tick_size: PositiveDecimalStr
    lot_size: PositiveDecimalStr
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")


class InstrumentListed(Contract):
    """Announced at start and periodically; consumers upsert their own copy (idempotent)."""

    TYPE: ClassVar[str] = "instrument.listed"
    instrument: Instrument


class Quote(Contract):
    """Top of book for one symbol. Published with routing key ``market.quote.<SYMBOL>``."""

    TYPE: ClassVar[str] = "market.quote"

    symbol: str
    bid_price: PositiveDecimalStr
    bid_size: DecimalStr
    ask_price: PositiveDecimalStr
    ask_size: DecimalStr
    timestamp: UtcDateTime
    sequence: int = Field(ge=1, description="Per symbol, assigned by market-data, increasing.")
    source: Literal["simulator", "ingest", "replay"] = Field(
        default="ingest",
        description="The feed the quote came from: the built-in simulator, a feed posting to "
        "market-data (ingest), or a recorded feed replayed (replay).",
    )

    @classmethod
    def binding_pattern(cls) -> str:
        return f"{QUOTE_ROUTING_PREFIX}*"  # routed by symbol: quote_routing_key


def quote_routing_key(symbol: str) -> str:
    return f"{QUOTE_ROUTING_PREFIX}{symbol}"
