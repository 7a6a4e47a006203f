"""Message schemas: one pydantic model per command and event type."""

from tradewind.common.contracts.orders import (
    CancelOrder,
    CancelRejected,
    Contract,
    OrderAccepted,
    OrderCanceled,
    OrderRejected,
    OrderSnapshot,
    PlaceOrder,
    RejectReason,
)

COMMANDS: dict[str, type[Contract]] = {c.TYPE: c for c in (PlaceOrder, CancelOrder)}
EVENTS: dict[str, type[Contract]] = {
    e.TYPE: e for e in (OrderAccepted, OrderRejected, OrderCanceled, CancelRejected)
}

__all__ = [
    "COMMANDS",
    "EVENTS",
    "CancelOrder",
    "CancelRejected",
    "Contract",
    "OrderAccepted",
    "OrderCanceled",
    "OrderRejected",
    "OrderSnapshot",
    "PlaceOrder",
    "RejectReason",
]
