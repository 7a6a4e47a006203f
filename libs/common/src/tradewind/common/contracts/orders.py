"""Commands and events of the order lifecycle.

Every schema names its CloudEvents ``type`` in ``TYPE``. A breaking change gets a new type
(``order.accepted.v2``); additive changes keep it, and consumers ignore fields they do not know.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Annotated, ClassVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tradewind.common.contracts.types import (
    AccountId,
    ClientOrderId,
    DecimalStr,
    OrderClass,
    OrderStatus,
    OrderType,
    PositiveDecimalStr,
    Side,
    Symbol,
    TimeInForce,
    TrailPercent,
    UtcDateTime,
)


class Contract(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    TYPE: ClassVar[str]

    @classmethod
    def binding_pattern(cls) -> str:
        """The routing key a queue that takes this type is bound with: messages are published
        with their type as routing key, unless a contract says otherwise."""
        return cls.TYPE


# --- commands (exchange: <ns>.commands, routing key = TYPE) ---
# Their fields use the same types as the gateway's request bodies, so a command the gateway
# published is one the orders service accepts: nothing is parked for a reason seen at the edge.


class TakeProfit(BaseModel):
    """The take-profit leg of a bracket, oco or oto order: a limit order on the exit side."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    limit_price: PositiveDecimalStr


class StopLoss(BaseModel):
    """The stop-loss leg of a bracket, oco or oto order: a stop order on the exit side, a
    stop-limit one when ``limit_price`` is set, or a trailing stop with ``trail_price`` or
    ``trail_percent`` instead of ``stop_price`` (bracket and oto; its mark starts at the entry's
    average fill price)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stop_price: PositiveDecimalStr | None = None
    limit_price: PositiveDecimalStr | None = None
    trail_price: PositiveDecimalStr | None = None
    trail_percent: TrailPercent | None = None

    @model_validator(mode="after")
    def _one_kind_of_stop(self) -> StopLoss:
        given = [
            name
            for name in ("stop_price", "trail_price", "trail_percent")
            if getattr(self, name) is not None
        ]
        if len(given) != 1:
            raise ValueError("set exactly one of stop_price, trail_price or trail_percent")
        if self.limit_price is not None and self.stop_price is None:
            raise ValueError("limit_price goes with stop_price (a stop-limit stop-loss)")
        return self

    @property
    def trailing(self) -> bool:
        return self.stop_price is None


class LegRole(StrEnum):
    """Which exit a leg is: it names the leg's id, derived from its parent's."""

    TAKE_PROFIT = "take_profit"
    STOP_LOSS = "stop_loss"


def leg_order_id(parent_id: UUID, role: LegRole) -> UUID:
    """The id of a leg: derived from its parent's, so the gateway can show the legs of the
    order it has just submitted, and a repeated place command names the same legs."""
    return uuid.uuid5(parent_id, f"leg:{role.value}")


class PlaceOrder(Contract):
    TYPE: ClassVar[str] = "orders.place"

    order_id: UUID
    account_id: AccountId
    symbol: Symbol
    side: Side
    type: OrderType
    qty: PositiveDecimalStr | None = None
    """None for a notional order: its quantity is sized when it trades."""
    notional: PositiveDecimalStr | None = None
    limit_price: PositiveDecimalStr | None = None
    stop_price: PositiveDecimalStr | None = None
    trail_price: PositiveDecimalStr | None = None
    trail_percent: TrailPercent | None = None
    time_in_force: TimeInForce = TimeInForce.DAY
    client_order_id: ClientOrderId | None = None
    submitted_at: UtcDateTime
    order_class: OrderClass = OrderClass.SIMPLE
    take_profit: TakeProfit | None = None
    stop_loss: StopLoss | None = None


class CancelOrder(Contract):
    TYPE: ClassVar[str] = "orders.cancel"

    order_id: UUID
    account_id: AccountId
    requested_at: UtcDateTime


class ReplaceOrder(Contract):
    """Replace an open order by a new one (Alpaca semantics): unset fields keep their values."""

    TYPE: ClassVar[str] = "orders.replace"

    order_id: UUID
    new_order_id: UUID
    account_id: AccountId
    qty: PositiveDecimalStr | None = None
    limit_price: PositiveDecimalStr | None = None
    stop_price: PositiveDecimalStr | None = None
    trail_price: PositiveDecimalStr | None = None
    trail_percent: TrailPercent | None = None
    """A trailing stop's new trail: either one (the other is then cleared)."""
    time_in_force: TimeInForce | None = None
    client_order_id: ClientOrderId | None = None
    requested_at: UtcDateTime


class TradingBlockedBy(StrEnum):
    """Who set a trading block: the account itself, or an operator (which only an operator
    lifts)."""

    ACCOUNT = "account"
    OPERATOR = "operator"


TradingBlockReason = Annotated[
    str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")
]


class BlockTrading(Contract):
    """The kill switch: the account's open orders are canceled, and its new orders and replaces
    are rejected until the block is lifted."""

    TYPE: ClassVar[str] = "orders.block_trading"

    account_id: AccountId
    reason: TradingBlockReason
    blocked_by: TradingBlockedBy
    requested_at: UtcDateTime


class UnblockTrading(Contract):
    """Lift a trading block. An account cannot lift an operator's block."""

    TYPE: ClassVar[str] = "orders.unblock_trading"

    account_id: AccountId
    unblocked_by: TradingBlockedBy
    requested_at: UtcDateTime


# --- events (exchange: <ns>.events, routing key = TYPE) ---


class OrderView(BaseModel):
    """An order as its owner sees it (Alpaca's field and status names): the public API's shape."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: UUID
    client_order_id: str | None
    symbol: str
    side: Side
    type: OrderType
    qty: DecimalStr | None = Field(
        description="None for a notional order until it trades (it is sized then)."
    )
    notional: DecimalStr | None = Field(
        default=None, description="The dollar amount of a notional order (instead of a qty)."
    )
    limit_price: DecimalStr | None
    stop_price: DecimalStr | None = Field(
        default=None, description="A trailing stop's current stop price: it moves with hwm."
    )
    trail_price: DecimalStr | None = None
    trail_percent: DecimalStr | None = None
    hwm: DecimalStr | None = Field(
        default=None,
        description="A trailing stop's high-water mark: the highest bid (sell) or lowest ask "
        "(buy) seen since it was accepted.",
    )
    time_in_force: TimeInForce
    status: OrderStatus
    filled_qty: DecimalStr
    filled_avg_price: DecimalStr | None = None
    submitted_at: UtcDateTime
    created_at: UtcDateTime
    updated_at: UtcDateTime
    accepted_at: UtcDateTime | None = None
    rejected_at: UtcDateTime | None = None
    canceled_at: UtcDateTime | None = None
    filled_at: UtcDateTime | None = None
    expired_at: UtcDateTime | None = None
    replaced_at: UtcDateTime | None = None
    stop_triggered_at: UtcDateTime | None = None
    replaces: UUID | None = None
    replaced_by: UUID | None = None
    reject_reason: str | None = None
    order_class: OrderClass = OrderClass.SIMPLE
    parent_id: UUID | None = Field(
        default=None, description="The order whose leg this order is (bracket, oco, oto legs)."
    )
    legs: list[OrderView] | None = Field(
        default=None,
        description="The legs of a bracket, oco or oto order (each a full order), on reads of "
        "the parent; null otherwise.",
    )


class OrderSnapshot(OrderView):
    """The order as it stands after an event: enough for a consumer to reconcile without a read."""

    account_id: str
    version: int = Field(description="Increases by one with every change of the order.")


class RejectReason(StrEnum):
    UNKNOWN_SYMBOL = "unknown_symbol"
    DUPLICATE_CLIENT_ORDER_ID = "duplicate_client_order_id"
    NOTIONAL_LIMIT_EXCEEDED = "notional_limit_exceeded"
    INVALID_ORDER = "invalid_order"  # prices contradict the order type, or miss the increments
    PRICE_UNAVAILABLE = "price_unavailable"  # no quote nor reference price values the order
    ACCOUNT_BLOCKED = "account_blocked"  # the account's trading is blocked (the kill switch)
    INSUFFICIENT_BUYING_POWER = "insufficient_buying_power"  # a buy would hold more than it has


class TradeUpdate(Contract):
    """An event about one of an account's orders: what the stream calls a trade update.

    The orders service numbers them per account in the transaction that stages them (1, 2, 3, …
    without gaps or repeats), so a client that reconnects can ask for exactly what it missed.
    """

    account_sequence: int | None = Field(
        default=None,
        ge=1,
        description=(
            "The event's place among the account's trade updates: 1, 2, 3, … without gaps, in "
            "commit order. Absent only on events staged before the orders service numbered them."
        ),
    )


class OrderAccepted(TradeUpdate):
    TYPE: ClassVar[str] = "order.accepted"
    order: OrderSnapshot


class OrderRejected(TradeUpdate):
    TYPE: ClassVar[str] = "order.rejected"
    order: OrderSnapshot
    reason: RejectReason
    message: str


class OrderCanceled(TradeUpdate):
    TYPE: ClassVar[str] = "order.canceled"
    order: OrderSnapshot


class OrderFill(TradeUpdate):
    """Common shape of a fill: the execution, the order's cumulative figures, the position after."""

    order: OrderSnapshot
    execution_id: UUID
    qty: DecimalStr
    price: DecimalStr
    filled_qty: DecimalStr
    filled_avg_price: DecimalStr
    position_qty: DecimalStr
    timestamp: UtcDateTime


class OrderPartiallyFilled(OrderFill):
    TYPE: ClassVar[str] = "order.partially_filled"


class OrderFilled(OrderFill):
    TYPE: ClassVar[str] = "order.filled"


class OrderExpired(TradeUpdate):
    """Day orders at the session end (ioc/fok remainders are order.canceled)."""

    TYPE: ClassVar[str] = "order.expired"
    order: OrderSnapshot


class OrderReplaced(TradeUpdate):
    TYPE: ClassVar[str] = "order.replaced"
    order: OrderSnapshot  # the replaced order (status replaced, replaced_by set)
    replacement: OrderSnapshot  # the new order (replaces set)


class ReplaceRejected(TradeUpdate):
    """A replace that lost (to a fill, a cancel, a pending state); the order is unchanged."""

    TYPE: ClassVar[str] = "order.replace_rejected"
    order: OrderSnapshot
    new_order_id: UUID
    reason: str


class TradingBlockStatus(BaseModel):
    """Whether an account may trade (the kill switch), as the API shows it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    account_id: str
    blocked: bool
    reason: str | None = None
    blocked_by: TradingBlockedBy | None = Field(
        default=None, description="Only an operator lifts an operator's block."
    )
    blocked_at: UtcDateTime | None = None


class TradingBlocked(Contract):
    """The account's trading is blocked; its open orders were canceled in the same transaction
    (each with its order.canceled)."""

    TYPE: ClassVar[str] = "account.trading_blocked"

    account_id: str
    reason: str
    blocked_by: TradingBlockedBy
    blocked_at: UtcDateTime
    canceled_orders: int = Field(description="Open orders canceled by this block.")


class TradingUnblocked(Contract):
    TYPE: ClassVar[str] = "account.trading_unblocked"

    account_id: str
    unblocked_by: TradingBlockedBy
    unblocked_at: UtcDateTime


class PositionSnapshot(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    account_id: str
    symbol: str
    qty: DecimalStr = Field(description="Signed: negative is short.")
    avg_entry_price: DecimalStr
    realized_pl: DecimalStr
    updated_at: UtcDateTime


class CancelRequested(Contract):
    """Advisory, from the gateway, just before it sends a cancel: the stream's pending_cancel.

    Not a trade update of the orders service and not numbered: the order's state has not changed
    (the orders service decides the cancel when it takes the command, with order.canceled or
    order.cancel_rejected). Published before the command, so on every queue it precedes the
    decision; a cancel whose command could not be sent (the request got a 503) has none.
    """

    TYPE: ClassVar[str] = "order.cancel_requested"
    order_id: UUID
    account_id: AccountId
    requested_at: UtcDateTime
    order: OrderView = Field(
        description="The order as the gateway read it before the request (not a new state)."
    )


class ReplaceRequested(Contract):
    """Advisory, from the gateway, just before it sends a replace: the stream's pending_replace
    (see CancelRequested); decided by order.replaced or order.replace_rejected."""

    TYPE: ClassVar[str] = "order.replace_requested"
    order_id: UUID
    new_order_id: UUID
    account_id: AccountId
    requested_at: UtcDateTime
    order: OrderView = Field(
        description="The order as the gateway read it before the request (not a new state)."
    )


class CancelRejected(TradeUpdate):
    """A cancel that could not be applied; the order is unchanged."""

    TYPE: ClassVar[str] = "order.cancel_rejected"
    order: OrderSnapshot
    reason: str
