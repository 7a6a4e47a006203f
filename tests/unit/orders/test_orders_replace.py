"""Replacing an order, and expiring day orders at the session end, without a database."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tradewind.common.contracts import OrderExpired, OrderReplaced, ReplaceOrder, ReplaceRejected
from tradewind.common.contracts.types import OrderStatus, OrderType, Side, TimeInForce
from tradewind.orders.domain import (
    REPLACE_REFUSED,
    MarketView,
    Order,
    ReplaceOutcome,
    RiskRules,
    expire,
    expires_at_session_end,
    replace,
    to_snapshot,
)
from unit.orders.builders import T0, replace_of, working_order

NOW = T0 + timedelta(minutes=1)
RULES = RiskRules(reference_prices={"ACME": Decimal("100")}, max_notional=Decimal("10000"))
LISTED = MarketView(listed=True)


def replace_command(order: Order, **changes: Any) -> ReplaceOrder:
    return replace_of(order, requested_at=NOW - timedelta(milliseconds=5), **changes)


def replaced(order: Order, *, coid_in_use: bool = False, **changes: Any) -> ReplaceOutcome:
    return replace(
        order,
        replace_command(order, **changes),
        RULES,
        LISTED,
        client_order_id_in_use=coid_in_use,
        now=NOW,
    )


def limit_order(**overrides: Any) -> Order:
    return working_order(
        order_type=OrderType.LIMIT, limit="50", qty="10", client_order_id="mine-1", **overrides
    )


# --- replace ---


def test_a_replace_links_a_new_order_to_the_replaced_one() -> None:
    order = limit_order()

    outcome = replaced(order, limit_price=Decimal("51"))

    assert outcome.changed
    old, new = outcome.order, outcome.replacement
    assert new is not None
    assert old.status is OrderStatus.REPLACED
    assert old.replaced_at == old.updated_at == NOW
    assert old.replaced_by == new.id
    assert old.version == order.version + 1
    assert new.replaces == order.id
    assert new.status is OrderStatus.NEW
    assert (new.symbol, new.side, new.type) == (order.symbol, order.side, order.type)
    assert new.limit_price == Decimal("51")
    assert new.qty == Decimal("10")
    assert new.client_order_id == "mine-1", "kept: the replaced order hands it on"
    assert new.time_in_force is order.time_in_force
    assert new.created_at == new.accepted_at == NOW, "it joins the back of the queue"
    assert new.submitted_at == NOW - timedelta(milliseconds=5)
    assert new.version == 1
    assert new.filled_qty == 0
    assert outcome.event == OrderReplaced(order=to_snapshot(old), replacement=to_snapshot(new))


def test_every_field_of_the_command_applies() -> None:
    order = working_order(order_type=OrderType.STOP_LIMIT, limit="50", stop="49", qty="10")

    outcome = replaced(
        order,
        qty=Decimal("12"),
        limit_price=Decimal("48"),
        stop_price=Decimal("47"),
        time_in_force=TimeInForce.DAY,
        client_order_id="renamed",
    )

    new = outcome.replacement
    assert new is not None
    assert (new.qty, new.limit_price, new.stop_price) == (Decimal(12), Decimal(48), Decimal(47))
    assert new.time_in_force is TimeInForce.DAY
    assert new.client_order_id == "renamed"


def test_replacing_a_partially_filled_order_leaves_the_fill_with_it() -> None:
    order = limit_order(
        status=OrderStatus.PARTIALLY_FILLED,
        filled_qty=Decimal("4"),
        filled_notional=Decimal("200"),
    )

    outcome = replaced(order, qty=Decimal("15"))

    old, new = outcome.order, outcome.replacement
    assert new is not None
    assert new.qty == Decimal("11"), "the new total (15) less what was filled (4)"
    assert new.filled_qty == 0
    assert old.status is OrderStatus.REPLACED
    assert old.filled_qty == Decimal("4")
    assert old.filled_avg_price == Decimal("50")


def test_without_a_qty_the_replacement_is_for_what_remains() -> None:
    order = limit_order(status=OrderStatus.PARTIALLY_FILLED, filled_qty=Decimal("4"))

    outcome = replaced(order, limit_price=Decimal("49"))

    assert outcome.replacement is not None
    assert outcome.replacement.qty == Decimal("6")


def test_a_new_total_not_above_the_filled_quantity_is_refused() -> None:
    order = limit_order(status=OrderStatus.PARTIALLY_FILLED, filled_qty=Decimal("4"))

    outcome = replaced(order, qty=Decimal("4"))

    assert not outcome.changed
    assert isinstance(outcome.event, ReplaceRejected)
    assert outcome.event.reason == "qty 4 does not exceed the 4 already filled"
    assert outcome.refused_replacement is not None
    assert outcome.refused_replacement.qty == Decimal("4"), "the total asked: nothing remains"


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (OrderStatus.PENDING_NEW, "order is pending_new; replace it once it is accepted"),
        (OrderStatus.FILLED, "order is already filled"),
        (OrderStatus.CANCELED, "order is already canceled"),
        (OrderStatus.EXPIRED, "order is already expired"),
        (OrderStatus.REPLACED, "order is already replaced"),
        (OrderStatus.REJECTED, "order is already rejected"),
    ],
)
def test_a_replace_is_refused_unless_the_order_is_working(status: OrderStatus, reason: str) -> None:
    order = limit_order(status=status)

    outcome = replaced(order, qty=Decimal("5"))

    assert outcome.order == order
    assert outcome.replacement is None
    assert isinstance(outcome.event, ReplaceRejected)
    assert outcome.event.reason == reason
    assert outcome.event.order == to_snapshot(order)
    assert outcome.event.new_order_id != order.id
    refused = outcome.refused_replacement
    assert refused is not None
    assert (refused.id, refused.replaces) == (outcome.event.new_order_id, order.id)
    assert (refused.status, refused.reject_reason) == (OrderStatus.REJECTED, REPLACE_REFUSED)
    assert (refused.qty, refused.rejected_at, refused.accepted_at) == (Decimal("5"), NOW, None)


@pytest.mark.parametrize(
    ("order_type", "changes", "reason"),
    [
        (OrderType.MARKET, {"limit_price": Decimal("5")}, "market orders have no limit_price"),
        (OrderType.LIMIT, {"stop_price": Decimal("5")}, "limit orders have no stop_price"),
    ],
)
def test_a_price_the_order_type_does_not_have_is_refused(
    order_type: OrderType, changes: dict[str, Any], reason: str
) -> None:
    limit = "50" if order_type is OrderType.LIMIT else None
    outcome = replaced(working_order(order_type=order_type, limit=limit), **changes)

    assert isinstance(outcome.event, ReplaceRejected)
    assert outcome.event.reason == reason


def test_the_replacement_passes_the_risk_checks() -> None:
    outcome = replaced(limit_order(), qty=Decimal("201"))  # 201 x 50 > 10_000

    assert not outcome.changed
    assert isinstance(outcome.event, ReplaceRejected)
    assert outcome.event.reason.startswith("notional_limit_exceeded: order notional 10050")
    refused = outcome.refused_replacement
    assert refused is not None
    assert (refused.status, refused.reject_reason) == (
        OrderStatus.REJECTED,
        "notional_limit_exceeded",
    )
    assert refused.qty == Decimal("201")


def test_a_client_order_id_another_order_uses_refuses_the_replace() -> None:
    outcome = replaced(limit_order(), coid_in_use=True, client_order_id="taken")

    assert isinstance(outcome.event, ReplaceRejected)
    assert outcome.event.reason.startswith("duplicate_client_order_id")


def test_a_triggered_stop_stays_triggered_unless_its_stop_price_changes() -> None:
    order = working_order(
        order_type=OrderType.STOP_LIMIT, limit="50", stop="49", stop_triggered_at=T0
    )

    kept = replaced(order, limit_price=Decimal("51")).replacement
    reset = replaced(order, stop_price=Decimal("48")).replacement

    assert kept is not None
    assert kept.stop_triggered_at == T0
    assert reset is not None
    assert reset.stop_triggered_at is None


def test_a_market_replacement_is_valued_at_the_quote() -> None:
    order = working_order(qty="10", side=Side.BUY)
    expensive = MarketView(listed=True, bid=Decimal("1100"), ask=Decimal("1200"))

    outcome = replace(
        order,
        replace_command(order, qty=Decimal("9")),
        RULES,
        expensive,
        client_order_id_in_use=False,
        now=NOW,
    )

    assert isinstance(outcome.event, ReplaceRejected)
    assert "notional_limit_exceeded" in outcome.event.reason


# --- day orders and the session end ---


def test_a_working_day_order_submitted_before_the_session_end_expires() -> None:
    session_end_at = datetime(2025, 3, 3, 20, 0, tzinfo=UTC)
    day = working_order(tif=TimeInForce.DAY, submitted_at=session_end_at - timedelta(seconds=1))

    assert expires_at_session_end(day, session_end_at)
    assert not expires_at_session_end(
        dataclasses.replace(day, submitted_at=session_end_at), session_end_at
    ), "submitted at the session end: it belongs to the next session"
    assert not expires_at_session_end(
        dataclasses.replace(day, time_in_force=TimeInForce.GTC), session_end_at
    )
    assert not expires_at_session_end(
        dataclasses.replace(day, status=OrderStatus.FILLED), session_end_at
    )
    assert expires_at_session_end(
        dataclasses.replace(day, status=OrderStatus.PARTIALLY_FILLED), session_end_at
    )


def test_expiring_keeps_the_fill_and_says_so() -> None:
    order = working_order(
        tif=TimeInForce.DAY, status=OrderStatus.PARTIALLY_FILLED, filled_qty=Decimal("2")
    )

    expiry = expire(order, NOW)

    assert expiry.order.status is OrderStatus.EXPIRED
    assert expiry.order.expired_at == expiry.order.updated_at == NOW
    assert expiry.order.filled_qty == Decimal("2")
    assert expiry.order.version == order.version + 1
    assert expiry.event == OrderExpired(order=to_snapshot(expiry.order))
