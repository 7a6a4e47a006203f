"""trade_update frames named as Alpaca's trade_updates: the event name, the account sequence,
and on fills the execution, price, qty, position and the fill's time beside the event; and the
notices of a cancel or replace being sent (pending_cancel, pending_replace)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest

from tradewind.common.contracts import (
    CancelOrder,
    CancelRequested,
    OrderView,
    PlaceOrder,
    ReplaceOrder,
    ReplaceRequested,
)
from tradewind.common.contracts.types import OrderStatus, OrderType, Side, TimeInForce
from tradewind.common.envelope import CloudEvent
from tradewind.gateway.domain.orders import pending_notice
from tradewind.gateway.domain.trade_update_frames import (
    TRADE_EVENT_NAMES,
    account_sequence,
    trade_update_frame,
)


def event(event_type: str, data: dict[str, Any]) -> CloudEvent:
    return CloudEvent.model_validate(
        {
            "id": "e1",
            "source": "/tradewind/orders",
            "type": event_type,
            "time": "2026-01-05T15:00:00Z",
            "data": data,
            "accountid": "a",
        }
    )


@pytest.mark.parametrize(
    ("event_type", "name"),
    [
        ("order.accepted", "new"),
        ("order.filled", "fill"),
        ("order.partially_filled", "partial_fill"),
        ("order.canceled", "canceled"),
        ("order.expired", "expired"),
        ("order.replaced", "replaced"),
        ("order.rejected", "rejected"),
        ("order.cancel_requested", "pending_cancel"),
        ("order.replace_requested", "pending_replace"),
        ("order.cancel_rejected", "order_cancel_rejected"),
        ("order.replace_rejected", "order_replace_rejected"),
    ],
)
def test_event_types_take_alpacas_names(event_type: str, name: str) -> None:
    assert TRADE_EVENT_NAMES[event_type] == name


def test_a_fill_carries_alpacas_fill_fields_beside_the_event() -> None:
    data = {
        "order": {"id": "o1"},
        "execution_id": "x1",
        "qty": "3",
        "price": "100.5",
        "position_qty": "-2",
        "filled_qty": "3",
        "filled_avg_price": "100.5",
        "timestamp": "2026-01-05T14:59:59.5Z",
        "account_sequence": 12,
    }
    frame = json.loads(trade_update_frame(event("order.filled", data)))
    assert {key: frame[key] for key in frame if key != "data"} == {
        "type": "trade_update",
        "event": "fill",
        "account_sequence": 12,
        "event_id": "e1",
        "timestamp": "2026-01-05T14:59:59.5Z",
        "execution_id": "x1",
        "price": "100.5",
        "qty": "3",
        "position_qty": "-2",
    }
    assert frame["data"] == data


def test_an_update_without_a_number_has_no_account_sequence() -> None:
    frame = json.loads(trade_update_frame(event("order.cancel_requested", {"order_id": "o1"})))
    assert "account_sequence" not in frame
    assert frame["event"] == "pending_cancel"
    assert frame["timestamp"] == "2026-01-05T15:00:00+00:00"


@pytest.mark.parametrize("value", [None, "3", True, 2.0])
def test_only_an_integer_is_an_account_sequence(value: object) -> None:
    assert account_sequence(event("order.accepted", {"account_sequence": value})) is None


def test_a_cancel_or_replace_is_announced_and_nothing_else_is() -> None:
    now = datetime.now(UTC)
    order_id, new_id = uuid4(), uuid4()
    order = OrderView(
        id=order_id,
        client_order_id=None,
        symbol="AAPL",
        side=Side.BUY,
        type=OrderType.LIMIT,
        qty=Decimal(1),
        limit_price=Decimal(1),
        time_in_force=TimeInForce.GTC,
        status=OrderStatus.NEW,
        filled_qty=Decimal(0),
        submitted_at=now,
        created_at=now,
        updated_at=now,
    )
    cancel_command = CancelOrder(order_id=order_id, account_id="a", requested_at=now)
    assert pending_notice(cancel_command, order) == CancelRequested(
        order_id=order_id, account_id="a", requested_at=now, order=order
    )
    replace_command = ReplaceOrder(
        order_id=order_id, new_order_id=new_id, account_id="a", requested_at=now
    )
    assert pending_notice(replace_command, order) == ReplaceRequested(
        order_id=order_id, new_order_id=new_id, account_id="a", requested_at=now, order=order
    )
    place = PlaceOrder(
        order_id=order_id,
        account_id="a",
        symbol="AAPL",
        side=Side.BUY,
        type=OrderType.MARKET,
        qty=Decimal(1),
        submitted_at=now,
    )
    assert pending_notice(place, order) is None
