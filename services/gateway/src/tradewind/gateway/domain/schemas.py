"""The public HTTP contract of the gateway: request and response bodies."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from tradewind.common.contracts.market import Instrument
from tradewind.common.contracts.orders import OrderView, StopLoss, TakeProfit
from tradewind.common.contracts.types import (
    ClientOrderId,
    DecimalStr,
    OrderClass,
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


class _OrderFields(BaseModel):
    """What every order has, whatever its type."""

    model_config = ConfigDict(extra="forbid")

    symbol: Symbol
    side: Side
    qty: PositiveDecimalStr = Field(examples=["10"], description="Decimal string > 0.")
    time_in_force: TimeInForce = TimeInForce.DAY
    client_order_id: ClientOrderId | None = None
    order_class: OrderClass = Field(
        default=OrderClass.SIMPLE,
        description="simple; bracket (a market or limit entry with take_profit and stop_loss); "
        "oco (a limit take-profit with a stop_loss, both exits); oto (an entry with one of "
        "them). Rules and states: docs/orders.md, Order classes.",
    )
    take_profit: TakeProfit | None = Field(
        default=None,
        examples=[{"limit_price": "200.00"}],
        description="The take-profit leg (a limit order on the exit side); bracket and oto "
        "orders, and an oco (where it repeats limit_price).",
    )
    stop_loss: StopLoss | None = Field(
        default=None,
        examples=[{"stop_price": "180.00", "limit_price": "179.50"}],
        description="The stop-loss leg (a stop, or a stop-limit with limit_price); bracket, "
        "oco and oto orders.",
    )


# The variants below only declare the schema, one per order type; OrderRequest validates (with
# messages that name the rule) and declares itself as their oneOf. A unit test checks that the
# two accept exactly the same bodies.
Price = Annotated[PositiveDecimalStr, Field(description="Decimal string > 0.")]
NoPrice = Annotated[None, Field(description="Not for this order type: leave it out (or null).")]


class MarketOrderRequest(_OrderFields):
    type: Literal[OrderType.MARKET]
    limit_price: NoPrice = None
    stop_price: NoPrice = None


class LimitOrderRequest(_OrderFields):
    type: Literal[OrderType.LIMIT]
    limit_price: Price
    stop_price: NoPrice = None


class StopOrderRequest(_OrderFields):
    type: Literal[OrderType.STOP]
    limit_price: NoPrice = None
    stop_price: Price


class StopLimitOrderRequest(_OrderFields):
    type: Literal[OrderType.STOP_LIMIT]
    limit_price: Price
    stop_price: Price


ORDER_VARIANTS: dict[OrderType, type[_OrderFields]] = {
    OrderType.MARKET: MarketOrderRequest,
    OrderType.LIMIT: LimitOrderRequest,
    OrderType.STOP: StopOrderRequest,
    OrderType.STOP_LIMIT: StopLimitOrderRequest,
}


class OrderRequest(_OrderFields):
    type: OrderType
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

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {
            "title": "OrderRequest",
            "description": "An order; its `type` decides which prices it takes.",
            "oneOf": [
                handler(variant.__pydantic_core_schema__) for variant in ORDER_VARIANTS.values()
            ],
        }


class ReplaceRequest(BaseModel):
    """PATCH body: what to change, at least one field; null or left out keeps the order's value.
    The order's type decides which prices fit (a price it does not take is refused, 422)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})

    qty: PositiveDecimalStr | None = None
    limit_price: PositiveDecimalStr | None = None
    stop_price: PositiveDecimalStr | None = None
    time_in_force: TimeInForce | None = None
    client_order_id: ClientOrderId | None = None

    @model_validator(mode="after")
    def _names_a_field(self) -> ReplaceRequest:
        if not self.model_fields_set:
            raise ValueError("send at least one field to change")
        return self


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


# --- market data, as the market-data service answers it ---

Timeframe = Literal["1Min", "5Min", "15Min", "1Hour", "1Day"]


class LatestQuote(BaseModel):
    model_config = ConfigDict(extra="ignore")

    symbol: str
    bid_price: DecimalStr
    bid_size: DecimalStr
    ask_price: DecimalStr
    ask_size: DecimalStr
    timestamp: UtcDateTime
    sequence: int
    stale: bool = False


class LatestQuotes(BaseModel):
    model_config = ConfigDict(extra="ignore")

    quotes: dict[str, LatestQuote]


class Bar(BaseModel):
    model_config = ConfigDict(extra="ignore")

    t: UtcDateTime
    o: DecimalStr
    h: DecimalStr
    l: DecimalStr  # noqa: E741 - Alpaca's field name
    c: DecimalStr
    v: DecimalStr


class BarPage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    symbol: str | None = None
    timeframe: str | None = None
    data: list[Bar]
    next_page_token: str | None


class InstrumentList(BaseModel):
    data: list[Instrument]
