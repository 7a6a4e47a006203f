"""The public HTTP contract of the gateway: request and response bodies."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from tradewind.common.contracts.orders import OrderView
from tradewind.common.contracts.types import (
    ClientOrderId,
    DecimalStr,
    OrderStatus,
    OrderType,
    PositiveDecimalStr,
    Side,
    SymbolInput,
    TimeInForce,
    UtcDateTime,
)

# Clients may write symbols in lower case; the routes' path and query parameters use it too.
Symbol = SymbolInput


def _price_rule(required: bool, value: Any, order_type: Any) -> Any:
    if not isinstance(order_type, OrderType):
        return value  # the type itself is invalid and reported on its own
    if required and value is None:
        raise ValueError(f"is required for {order_type.value} orders")
    if not required and value is not None:
        raise ValueError(f"must not be set for {order_type.value} orders")
    return value


class OrderRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    symbol: Symbol
    side: Side
    type: OrderType
    qty: PositiveDecimalStr = Field(examples=["10"], description="Decimal string > 0.")
    limit_price: PositiveDecimalStr | None = Field(
        default=None,
        validate_default=True,
        examples=["189.50"],
        description="Required for limit and stop_limit orders, forbidden otherwise.",
    )
    stop_price: PositiveDecimalStr | None = Field(
        default=None,
        validate_default=True,
        description="Required for stop and stop_limit orders, forbidden otherwise.",
    )
    time_in_force: TimeInForce = TimeInForce.DAY
    client_order_id: ClientOrderId | None = None

    @field_validator("limit_price")
    @classmethod
    def _limit_price_matches_type(cls, value: Any, info: ValidationInfo) -> Any:
        order_type = info.data.get("type")
        required = isinstance(order_type, OrderType) and order_type.needs_limit_price
        return _price_rule(required, value, order_type)

    @field_validator("stop_price")
    @classmethod
    def _stop_price_matches_type(cls, value: Any, info: ValidationInfo) -> Any:
        order_type = info.data.get("type")
        required = isinstance(order_type, OrderType) and order_type.needs_stop_price
        return _price_rule(required, value, order_type)


class ReplaceRequest(BaseModel):
    """PATCH body: what to change; at least one field. The order's type decides which prices fit."""

    model_config = ConfigDict(extra="forbid")

    qty: PositiveDecimalStr | None = None
    limit_price: PositiveDecimalStr | None = None
    stop_price: PositiveDecimalStr | None = None
    time_in_force: TimeInForce | None = None
    client_order_id: ClientOrderId | None = None


# The public order is the contracts' OrderView: one definition for the API and the events.
Order = OrderView


class OrderPage(BaseModel):
    data: list[Order]
    next_page_token: str | None


StatusFilter = OrderStatus | Literal["open", "closed", "all"]


class Position(BaseModel):
    model_config = ConfigDict(extra="ignore")

    symbol: str
    qty: DecimalStr = Field(description="Signed: negative is short.")
    avg_entry_price: DecimalStr
    realized_pl: DecimalStr
    updated_at: UtcDateTime


class PositionList(BaseModel):
    data: list[Position]
