"""Message schemas: one pydantic model per command and event type."""

from tradewind.common.contracts.market import (
    Instrument,
    InstrumentListed,
    Quote,
    quote_routing_key,
)
from tradewind.common.contracts.orders import (
    CancelOrder,
    CancelRejected,
    Contract,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFill,
    OrderFilled,
    OrderPartiallyFilled,
    OrderRejected,
    OrderReplaced,
    OrderSnapshot,
    OrderView,
    PlaceOrder,
    PositionSnapshot,
    RejectReason,
    ReplaceOrder,
    ReplaceRejected,
)

COMMANDS: dict[str, type[Contract]] = {c.TYPE: c for c in (PlaceOrder, CancelOrder, ReplaceOrder)}
EVENTS: dict[str, type[Contract]] = {
    e.TYPE: e
    for e in (
        OrderAccepted,
        OrderRejected,
        OrderCanceled,
        CancelRejected,
        OrderPartiallyFilled,
        OrderFilled,
        OrderExpired,
        OrderReplaced,
        ReplaceRejected,
        InstrumentListed,
        Quote,
    )
}

__all__ = [
    "COMMANDS",
    "EVENTS",
    "CancelOrder",
    "CancelRejected",
    "Contract",
    "Instrument",
    "InstrumentListed",
    "OrderAccepted",
    "OrderCanceled",
    "OrderExpired",
    "OrderFill",
    "OrderFilled",
    "OrderPartiallyFilled",
    "OrderRejected",
    "OrderReplaced",
    "OrderSnapshot",
    "OrderView",
    "PlaceOrder",
    "PositionSnapshot",
    "Quote",
    "RejectReason",
    "ReplaceOrder",
    "ReplaceRejected",
    "quote_routing_key",
]
