"""Settings of the orders service, read only from the environment (prefix ``TRADEWIND_ORDERS_``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from tradewind.common.service_settings import ServiceSettings, TcpPort, local_database_url
from tradewind.orders.domain.ledger import DEFAULT_INITIAL_CASH
from tradewind.orders.domain.orders import DEFAULT_MARKET_BUY_MARGIN

PositivePrice = Annotated[Decimal, Field(gt=0)]

DEFAULT_REFERENCE_PRICES: dict[str, Decimal] = {
    "AAPL": Decimal("190"),
    "MSFT": Decimal("420"),
    "GOOGL": Decimal("170"),
    "AMZN": Decimal("185"),
    "TSLA": Decimal("250"),
    "SPY": Decimal("560"),
}


class OrdersSettings(ServiceSettings):
    """Settings of the orders service."""

    model_config = SettingsConfigDict(env_prefix="TRADEWIND_ORDERS_")

    port: TcpPort = Field(default=8001, description="Port of the internal HTTP API.")
    database_url: str = Field(
        default=local_database_url("tradewind_orders"),
        description="SQLAlchemy URL (asyncpg driver) of the orders database.",
    )
    database_pool_size: int = Field(
        default=10,
        ge=2,
        le=100,
        description=(
            "Connections the write path (consumers, outbox relay, expiry sweep) may open to the "
            "database."
        ),
    )
    api_pool_size: int = Field(
        default=4,
        ge=1,
        le=100,
        description=(
            "Connections the internal read API and readiness probe may open, apart from the "
            "write path's, so reads never wait behind a busy write path."
        ),
    )
    reference_prices: dict[str, PositivePrice] = Field(
        default_factory=lambda: dict(DEFAULT_REFERENCE_PRICES),
        description=(
            "Price per symbol that values a market or stop order for the notional check while no "
            'quote has been seen for the symbol, as JSON, e.g. {"AAPL": "190"}. Which symbols '
            "are tradable is decided by instrument.listed events, not by this list."
        ),
    )
    max_notional: Decimal = Field(
        default=Decimal("1000000"),
        gt=0,
        description="Largest notional (qty x price) a single order may have.",
    )
    initial_cash: Decimal = Field(
        default=DEFAULT_INITIAL_CASH,
        ge=0,
        description="Cash an account's ledger starts with when the account is first seen.",
    )
    market_buy_margin: Decimal = Field(
        default=DEFAULT_MARKET_BUY_MARGIN,
        ge=0,
        le=1,
        description=(
            "A market or stop buy holds its valuation (the ask, else the reference price) times "
            "1 + this margin of the account's buying power until it fills."
        ),
    )
    expiry_sweep_interval_s: float = Field(
        default=1.0,
        gt=0,
        description="How often the service looks for day orders to expire.",
    )
    arrival_quote_max_age_s: float = Field(
        default=2.0,
        ge=0,
        description=(
            "An order that can trade executes on arrival against the symbol's latest quote if "
            "that quote is at most this old (seconds); otherwise it waits for the next quote."
        ),
    )
    command_batch_size: int = Field(
        default=128,
        ge=1,
        le=1000,
        description="Most commands handled together in one transaction (group commit).",
    )
    command_batch_wait_s: float = Field(
        default=0.005,
        ge=0,
        le=1,
        description=(
            "Longest wait of a batch of commands for more before it is handled (seconds), when "
            "commands come together (the previous batch held several), until it is as large as "
            "the previous batch; a command that comes alone is handled at once. 0: a batch is "
            "what arrived while the previous one was being handled."
        ),
    )
    outbox_handoff_lease_s: float = Field(
        default=10.0,
        ge=0,
        le=3600,
        description=(
            "Events of commands and quotes are published by the process that committed them, "
            "at once; relays leave them alone this long (seconds), then publish what that "
            "process did not (it died first; what the broker refused is given back at once). "
            "0: the outbox relay publishes every event (woken by NOTIFY)."
        ),
    )
    quote_concurrency: int = Field(
        default=4,
        ge=1,
        le=64,
        description="Symbols whose quotes are matched at the same time, per process.",
    )
    statement_chunk_rows: int = Field(
        default=1000,
        ge=1,
        le=10_000,
        description=(
            "Fills a statement job reads per step; its progress is saved after each step."
        ),
    )
    trade_updates_retained: int = Field(
        default=10_000,
        ge=1,
        description=(
            "Trade updates kept per account for stream clients that reconnect (resume_after); "
            "a client further behind gets a snapshot of its open orders instead."
        ),
    )
    trade_updates_prune_interval_s: float = Field(
        default=10.0,
        gt=0,
        description="How often trade updates beyond trade_updates_retained are dropped.",
    )
