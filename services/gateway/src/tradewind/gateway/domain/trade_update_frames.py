"""The stream's trade_update and snapshot frames, as Alpaca's trade_updates name them.

A frame is built once per event and shared by every session of the account: the live path (the
stream hub) and the catch-up path (the account's kept updates, read from orders) build the same
frame from the same CloudEvent, so a client cannot tell a resumed update from a live one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from tradewind.common.contracts import OrderSnapshot
from tradewind.common.envelope import CloudEvent

TRADE_EVENT_NAMES = {
    "order.accepted": "new",
    "order.rejected": "rejected",
    "order.canceled": "canceled",
    "order.cancel_rejected": "order_cancel_rejected",
    "order.partially_filled": "partial_fill",
    "order.filled": "fill",
    "order.expired": "expired",
    "order.replaced": "replaced",
    "order.replace_rejected": "order_replace_rejected",
    "order.cancel_requested": "pending_cancel",
    "order.replace_requested": "pending_replace",
}
"""Event type → Alpaca's trade_updates event name."""

FILL_FIELDS = ("execution_id", "price", "qty", "position_qty")
"""What Alpaca puts beside the event name of a fill, and so do we (the data keeps them too)."""

FILLS = frozenset({"order.filled", "order.partially_filled"})


def dumps(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"), default=str)


def account_sequence(event: CloudEvent) -> int | None:
    """The event's number among its account's trade updates; None if it has none."""
    sequence = event.data.get("account_sequence")
    return sequence if isinstance(sequence, int) and not isinstance(sequence, bool) else None


def trade_update_frame(event: CloudEvent) -> str:
    """The trade_update frame of an order event (without the connection's ``seq``)."""
    data = event.data
    frame: dict[str, Any] = {"type": "trade_update", "event": TRADE_EVENT_NAMES[event.type]}
    sequence = account_sequence(event)
    if sequence is not None:
        frame["account_sequence"] = sequence
    frame["event_id"] = event.id
    frame["timestamp"] = event.time.isoformat()
    if event.type in FILLS:
        frame.update({name: data[name] for name in FILL_FIELDS if name in data})
        # A fill's time is its execution's, as Alpaca's timestamp is.
        frame["timestamp"] = data.get("timestamp", frame["timestamp"])
    frame["data"] = data
    return dumps(frame)


def snapshot_frame(
    last_sequence: int, open_orders: Sequence[OrderSnapshot], *, truncated: bool
) -> str:
    """Where the account stands when a resume reaches back further than the kept updates: its
    open orders as of ``last_sequence``; the trade updates that follow are numbered after it."""
    return dumps(
        {
            "type": "snapshot",
            "account_sequence": last_sequence,
            "orders": [order.model_dump(mode="json") for order in open_orders],
            "orders_truncated": truncated,
        }
    )
