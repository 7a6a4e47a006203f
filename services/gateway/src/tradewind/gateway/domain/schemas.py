"""The public HTTP contract of the gateway: request and response bodies."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    ModelWrapValidatorHandler,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from tradewind.common.contracts.market import Instrument
from tradewind.common.contracts.order_rules import OrderTerms, field_inconsistency, inconsistency
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
    TrailPercent,
    UtcDateTime,
)

# Clients may write symbols in lower case; the routes' path and query parameters use it too.
Symbol = SymbolInput


class _OrderClassFields(BaseModel):
    """An order's class and its legs (docs/orders.md, Order classes), on every kind of order."""

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


class _OrderFields(_OrderClassFields):
    """What every order has, whatever its type."""

    model_config = ConfigDict(extra="forbid")

    symbol: Symbol
    side: Side
    time_in_force: TimeInForce = TimeInForce.DAY
    client_order_id: ClientOrderId | None = None


# The variants below only declare the schema, one per kind of order; OrderRequest validates (with
# messages that name the rule, the one the orders service checks too: common.contracts.
# order_rules) and declares itself as their oneOf. A unit test checks that the two accept exactly
# the same bodies.
Qty = Annotated[PositiveDecimalStr, Field(examples=["10"], description="Decimal string > 0.")]
Price = Annotated[PositiveDecimalStr, Field(description="Decimal string > 0.")]
NoPrice = Annotated[None, Field(description="Not for this order type: leave it out (or null).")]
Notional = Annotated[
    PositiveDecimalStr,
    Field(
        examples=["500"],
        description="The dollar amount to trade instead of a qty (market day orders only): "
        "it fills notional / price rounded down to the instrument's lot size.",
    ),
]
TrailPrice = Annotated[
    PositiveDecimalStr,
    Field(examples=["1.50"], description="How far the stop trails the market, in dollars."),
]
TrailPercentField = Annotated[
    TrailPercent,
    Field(examples=["2"], description="How far the stop trails the market, in percent (< 100)."),
]
TrailingTimeInForce = Literal[TimeInForce.DAY, TimeInForce.GTC]


def _with_example(example: dict[str, Any]) -> ConfigDict:
    """A variant's config: unknown fields refused, and the body its OpenAPI branch shows."""
    return ConfigDict(extra="forbid", json_schema_extra={"examples": [example]})


class MarketOrderRequest(_OrderFields):
    type: Literal[OrderType.MARKET]
    qty: Qty
    notional: NoPrice = None
    limit_price: NoPrice = None
    stop_price: NoPrice = None
    trail_price: NoPrice = None
    trail_percent: NoPrice = None


class NotionalMarketOrderRequest(_OrderFields):
    model_config = _with_example(
        {"symbol": "AAPL", "side": "buy", "type": "market", "notional": "500"}
    )

    type: Literal[OrderType.MARKET]
    time_in_force: Literal[TimeInForce.DAY] = TimeInForce.DAY
    qty: NoPrice = None
    notional: Notional
    limit_price: NoPrice = None
    stop_price: NoPrice = None
    trail_price: NoPrice = None
    trail_percent: NoPrice = None


class LimitOrderRequest(_OrderFields):
    type: Literal[OrderType.LIMIT]
    qty: Qty
    notional: NoPrice = None
    limit_price: Price
    stop_price: NoPrice = None
    trail_price: NoPrice = None
    trail_percent: NoPrice = None


class StopOrderRequest(_OrderFields):
    type: Literal[OrderType.STOP]
    qty: Qty
    notional: NoPrice = None
    limit_price: NoPrice = None
    stop_price: Price
    trail_price: NoPrice = None
    trail_percent: NoPrice = None


class StopLimitOrderRequest(_OrderFields):
    type: Literal[OrderType.STOP_LIMIT]
    qty: Qty
    notional: NoPrice = None
    limit_price: Price
    stop_price: Price
    trail_price: NoPrice = None
    trail_percent: NoPrice = None


class _TrailingStopFields(_OrderFields):
    """A trailing stop: a qty, no fixed prices; its trail is in dollars or in percent."""

    type: Literal[OrderType.TRAILING_STOP]
    time_in_force: TrailingTimeInForce = TimeInForce.DAY
    qty: Qty
    notional: NoPrice = None
    limit_price: NoPrice = None
    stop_price: NoPrice = None


class TrailingStopPriceRequest(_TrailingStopFields):
    model_config = _with_example(
        {
            "symbol": "AAPL",
            "side": "sell",
            "type": "trailing_stop",
            "qty": "10",
            "trail_price": "1.50",
            "time_in_force": "gtc",
        }
    )

    trail_price: TrailPrice
    trail_percent: NoPrice = None


class TrailingStopPercentRequest(_TrailingStopFields):
    model_config = _with_example(
        {
            "symbol": "AAPL",
            "side": "sell",
            "type": "trailing_stop",
            "qty": "10",
            "trail_percent": "2",
        }
    )

    trail_price: NoPrice = None
    trail_percent: TrailPercentField


ORDER_VARIANTS: dict[str, type[_OrderFields]] = {
    "market": MarketOrderRequest,
    "notional market": NotionalMarketOrderRequest,
    "limit": LimitOrderRequest,
    "stop": StopOrderRequest,
    "stop_limit": StopLimitOrderRequest,
    "trailing_stop by price": TrailingStopPriceRequest,
    "trailing_stop by percent": TrailingStopPercentRequest,
}
"""The kinds of order a body can be, each one variant of OrderRequest's oneOf."""

# Rules that read fields validated before them: when one of those failed on its own, the rule
# has nothing to compare with (the field's own error says what is wrong).
_READS_EARLIER = {"notional": ("qty", "time_in_force"), "trail_percent": ("trail_price",)}
# True while an order is validated with its terms left to one check of the whole order.
_WHOLE_ORDER_CHECK: ContextVar[bool] = ContextVar("whole_order_check", default=False)


class OrderRequest(_OrderClassFields):
    model_config = ConfigDict(extra="forbid")

    symbol: Symbol
    side: Side
    type: OrderType
    time_in_force: TimeInForce = Field(default=TimeInForce.DAY, validate_default=True)
    client_order_id: ClientOrderId | None = None
    qty: PositiveDecimalStr | None = Field(
        default=None,
        validate_default=True,
        examples=["10"],
        description="Decimal string > 0; or set notional.",
    )
    notional: PositiveDecimalStr | None = Field(
        default=None,
        validate_default=True,
        description="A dollar amount instead of qty: market day orders only.",
    )
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
    trail_price: PositiveDecimalStr | None = Field(
        default=None,
        validate_default=True,
        description="trailing_stop orders: the trail in dollars (or set trail_percent).",
    )
    trail_percent: TrailPercent | None = Field(
        default=None,
        validate_default=True,
        description="trailing_stop orders: the trail in percent (or set trail_price).",
    )

    @model_validator(mode="wrap")
    @classmethod
    def _fits_as_a_whole(
        cls, data: Any, validate: ModelWrapValidatorHandler[OrderRequest]
    ) -> OrderRequest:
        """The order's terms checked once, on the whole order, instead of field by field.

        Field by field is how a refused body gets its errors (each field that does not fit is
        named), but it runs seven rules seven times per order, most of the order's validation.
        Nearly every body fits, so the fields are validated first without their rules and the
        rules run once on the result; a body that fails anything is validated again, field by
        field, and refused exactly as before. Both ways agree because each rule reads only its
        own field and those before it (``order_rules.FIELD_RULES``), all present once every
        field is valid; tests/unit/gateway/test_order_terms_check.py compares the two.
        """
        checking_whole = _WHOLE_ORDER_CHECK.set(True)
        try:
            order: OrderRequest | None = validate(data)
        except ValidationError:
            order = None
        finally:
            _WHOLE_ORDER_CHECK.reset(checking_whole)
        if order is not None and inconsistency(order) is None:
            return order
        return validate(data)

    @field_validator(
        "time_in_force",
        "qty",
        "notional",
        "limit_price",
        "stop_price",
        "trail_price",
        "trail_percent",
    )
    @classmethod
    def _fits_the_order(cls, value: Any, info: ValidationInfo) -> Any:
        if _WHOLE_ORDER_CHECK.get():
            return value
        # Seven times per order: written out rather than looped, it costs a third less.
        data = info.data
        order_type = data.get("type")
        if not isinstance(order_type, OrderType):
            return value  # the type itself is invalid and reported on its own
        field = info.field_name
        assert field is not None
        earlier = _READS_EARLIER.get(field)
        if earlier is not None and not all(name in data for name in earlier):
            return value
        get = data.get
        values: dict[str, Any] = {
            "time_in_force": get("time_in_force", TimeInForce.DAY),
            "qty": get("qty"),
            "notional": get("notional"),
            "limit_price": get("limit_price"),
            "stop_price": get("stop_price"),
            "trail_price": get("trail_price"),
            "trail_percent": get("trail_percent"),
            field: value,  # the one being validated is not in data yet
        }
        problem = field_inconsistency(field, OrderTerms(type=order_type, **values))
        if problem is not None:
            raise ValueError(problem)
        return value

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {
            "title": "OrderRequest",
            "description": "An order; its `type` decides which prices it takes, and a market "
            "order has a `qty` or a `notional`, a trailing stop a `trail_price` or a "
            "`trail_percent`.",
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
    trail_price: PositiveDecimalStr | None = Field(
        default=None, description="A trailing stop's new trail in dollars."
    )
    trail_percent: TrailPercent | None = Field(
        default=None, description="A trailing stop's new trail in percent."
    )
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
