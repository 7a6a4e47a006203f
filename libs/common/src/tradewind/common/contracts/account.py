"""The account ledger as the public API shows it (Alpaca's names where Alpaca has one): the
orders service answers it, the gateway fronts it, so the shape is defined once. Also the body of
the operator's cash movements (deposits and withdrawals), which the activities list as ``CSD``
and ``CSW`` (``contracts.activities``)."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from tradewind.common.contracts.types import (
    AccountId,
    DecimalStr,
    PositiveDecimalStr,
    SafeText,
)


class AccountView(BaseModel):
    """The account's money: cash, what its open buy orders hold, and its positions' value."""

    model_config = ConfigDict(
        extra="ignore",
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "account_id": "acct-demo",
                    "currency": "USD",
                    "status": "ACTIVE",
                    "cash": "98100",
                    "equity": "100010",
                    "buying_power": "97150",
                    "held_for_orders": "950",
                    "long_market_value": "1910",
                    "short_market_value": "0",
                    "position_market_value": "1910",
                    "realized_pl": "0",
                    "unrealized_pl": "10",
                    "trading_blocked": False,
                }
            ]
        },
    )

    account_id: AccountId
    currency: Literal["USD"] = "USD"
    status: Literal["ACTIVE"] = "ACTIVE"
    cash: DecimalStr = Field(
        description="Cash: the initial cash, plus deposits and sells, minus withdrawals and buys."
    )
    equity: DecimalStr = Field(description="cash + long_market_value + short_market_value.")
    buying_power: DecimalStr = Field(
        description="cash - held_for_orders: what a new buy order may hold."
    )
    held_for_orders: DecimalStr = Field(
        description="What the open buy orders hold: limit price (market and stop buys: the ask "
        "they were placed at, plus a margin) times the quantity not yet filled."
    )
    long_market_value: DecimalStr = Field(description="Long positions at the latest quotes.")
    short_market_value: DecimalStr = Field(
        description="Short positions at the latest quotes (negative or zero)."
    )
    position_market_value: DecimalStr = Field(description="long_market_value + short_market_value.")
    realized_pl: DecimalStr = Field(description="Realized P&L of every position, closed ones too.")
    unrealized_pl: DecimalStr = Field(
        description="The open positions' market value minus what they cost."
    )
    trading_blocked: bool = Field(description="The kill switch is on: new orders are rejected.")


class CashMovementRequest(BaseModel):
    """A deposit or a withdrawal (operator route). ``id`` makes a retry harmless: a movement
    with an id already recorded is answered with the recorded one and not applied again."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    amount: PositiveDecimalStr
    id: UUID | None = Field(default=None, description="Idempotency: the movement's id.")
    description: Annotated[SafeText, Field(max_length=200)] | None = None
