"""The orders that close every position (DELETE /api/v1/positions): side, size and ids."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from uuid import uuid4

import pytest

from tradewind.common.contracts.types import OrderType, Side, TimeInForce
from tradewind.gateway.domain.orders import closing_command, closing_order_id, new_order_id

NOW = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("position", "side", "qty"),
    [("3", Side.SELL, "3"), ("-2", Side.BUY, "2"), ("0.5", Side.SELL, "0.5")],
)
def test_a_closing_order_is_a_market_day_order_for_the_whole_position(
    position: str, side: Side, qty: str
) -> None:
    order_id = uuid4()
    command = closing_command("AAPL", Decimal(position), account_id="a", now=NOW, order_id=order_id)

    assert (command.side, command.qty, command.symbol) == (side, Decimal(qty), "AAPL")
    assert (command.type, command.time_in_force) == (OrderType.MARKET, TimeInForce.DAY)
    assert (command.order_id, command.account_id, command.submitted_at) == (order_id, "a", NOW)
    assert (command.limit_price, command.stop_price) == (None, None)


def test_a_flat_position_has_nothing_to_close() -> None:
    with pytest.raises(ValueError, match="no position in AAPL"):
        closing_command("AAPL", Decimal(0), account_id="a", now=NOW, order_id=uuid4())


def test_a_retry_under_the_same_key_names_the_same_closing_order_per_symbol() -> None:
    key = ("k1", "f1")
    assert closing_order_id("alice", "AAPL", key) == closing_order_id("alice", "AAPL", key)
    assert closing_order_id("alice", "AAPL", key) != closing_order_id("alice", "MSFT", key)
    assert closing_order_id("alice", "AAPL", key) != closing_order_id("bob", "AAPL", key)
    assert closing_order_id("alice", "AAPL", key) != new_order_id("alice", key)
    assert closing_order_id("alice", "AAPL", None) != closing_order_id("alice", "AAPL", None)
