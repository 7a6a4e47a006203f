"""The public HTTP contract of the gateway: request and response bodies."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator

from tradewind.common.contracts.types import (
    DecimalStr,
    OrderStatus,
    OrderType,
    PositiveDecimalStr,
    Side,
    TimeInForce,
    UtcDateTime,
)


def _upper(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


Symbol = Annotated[str, BeforeValidator(_upper), Field(pattern=r"^[A-Z][A-Z0-9.]{0,15}$")]


class OrderRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    symbol: Symbol = Field(examples=["AAPL"])
    side: Side
    type: OrderType
    qty: PositiveDecimalStr = Field(examples=["10"], description="Decimal string > 0.")
    limit_price: PositiveDecimalStr | None = Field(
        default=None,
        validate_default=True,
        examples=["189.50"],
        description="Required for limit orders, forbidden for market orders.",
    )
    time_in_force: TimeInForce = TimeInForce.DAY
    client_order_id: str | None = Field(default=None, min_length=1, max_length=128)

    @field_validator("limit_price")
    @classmethod
    def _limit_price_matches_type(cls, value: Any, info: ValidationInfo) -> Any:
        order_type = info.data.get("type")
        if order_type == OrderType.LIMIT and value is None:
            raise ValueError("is required for limit orders")
        if order_type == OrderType.MARKET and value is not None:
            raise ValueError("must not be set for market orders")
        return value


class Order(BaseModel):
    """An order as clients see it (Alpaca's field and status names)."""

    model_config = ConfigDict(extra="ignore")

    id: UUID
    client_order_id: str | None
    symbol: str
    side: Side
    type: OrderType
    qty: DecimalStr
    limit_price: DecimalStr | None
    time_in_force: TimeInForce
    status: OrderStatus
    filled_qty: DecimalStr
    submitted_at: UtcDateTime
    created_at: UtcDateTime
    updated_at: UtcDateTime
    accepted_at: UtcDateTime | None = None
    rejected_at: UtcDateTime | None = None
    canceled_at: UtcDateTime | None = None
    reject_reason: str | None = None


class OrderPage(BaseModel):
    data: list[Order]
    next_page_token: str | None


StatusFilter = OrderStatus | Literal["open", "closed", "all"]
