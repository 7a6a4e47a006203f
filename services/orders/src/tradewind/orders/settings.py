"""Settings of the orders service, read only from the environment (prefix ``TRADEWIND_ORDERS_``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from tradewind.common.settings import HttpSettings, SharedSettings

PositivePrice = Annotated[Decimal, Field(gt=0)]

DEFAULT_SYMBOLS: dict[str, Decimal] = {
    "AAPL": Decimal("190"),
    "MSFT": Decimal("420"),
    "GOOGL": Decimal("170"),
    "AMZN": Decimal("185"),
    "TSLA": Decimal("250"),
    "SPY": Decimal("560"),
}


class OrdersSettings(HttpSettings):
    """Settings of the orders service."""

    model_config = SettingsConfigDict(env_prefix="TRADEWIND_ORDERS_", extra="ignore")

    host: str = Field(default="127.0.0.1", description="Interface the HTTP server binds to.")
    port: int = Field(default=8001, ge=1, le=65535, description="Port of the internal HTTP API.")
    database_url: str = Field(
        default="postgresql+asyncpg://postgres@127.0.0.1:5432/tradewind_orders",
        description="SQLAlchemy URL (asyncpg driver) of the orders database.",
    )
    symbols: dict[str, PositivePrice] = Field(
        default_factory=lambda: dict(DEFAULT_SYMBOLS),
        description=(
            "Tradable symbols with the reference price used for the notional check of market "
            'orders, as JSON, e.g. {"AAPL": "190"}. Orders for other symbols are rejected.'
        ),
    )
    max_notional: Decimal = Field(
        default=Decimal("1000000"),
        gt=0,
        description="Largest notional (qty x price) a single order may have.",
    )
    shared: SharedSettings = Field(
        default_factory=SharedSettings,
        description="Settings every Tradewind process shares (prefix TRADEWIND_).",
    )
