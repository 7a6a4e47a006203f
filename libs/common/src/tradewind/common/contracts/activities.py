"""Account activities as the public API shows them (Alpaca's names): the orders service answers
them, the gateway fronts them, so the shape is defined once."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from tradewind.common.contracts.types import DecimalStr, OrderStatus, Side, UtcDateTime

ACTIVITY_TYPES = ("FILL", "CSD", "CSW")
"""The activity types that exist so far: fills, cash deposits and cash withdrawals."""
ACTIVITY_TYPES_PATTERN = r"^[A-Z]{1,16}(,[A-Z]{1,16}){0,15}$"


class FillActivityView(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: UUID = Field(description="The execution's id; unique among the account's activities.")
    activity_type: Literal["FILL"]
    transaction_time: UtcDateTime
    type: Literal["fill", "partial_fill"] = Field(description="Whether it completed the order.")
    order_id: UUID
    symbol: str
    side: Side
    qty: DecimalStr
    price: DecimalStr
    cum_qty: DecimalStr = Field(description="The order's filled quantity after this fill.")
    leaves_qty: DecimalStr = Field(description="What was left of the order after this fill.")
    order_status: OrderStatus = Field(description="The order's status right after this fill.")


CashActivityType = Literal["CSD", "CSW"]
"""Alpaca's activity types of a cash deposit and a cash withdrawal."""


class CashActivityView(BaseModel):
    """A cash movement as an account activity (Alpaca's non-trade activity fields)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: UUID
    activity_type: CashActivityType
    transaction_time: UtcDateTime
    net_amount: DecimalStr = Field(description="Positive for a deposit, negative for a withdrawal.")
    description: str | None = None
    status: Literal["executed"] = "executed"


ActivityView = Annotated[FillActivityView | CashActivityView, Field(discriminator="activity_type")]


class ActivityPageView(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    data: list[ActivityView]
    next_page_token: str | None = Field(
        description="Pass as page_token for the next page; null on the last page."
    )
