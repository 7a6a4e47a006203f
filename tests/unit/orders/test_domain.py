"""The order rules without a database: placing (risk checks, in order) and canceling."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest

from tradewind.common.contracts import (
    CancelRejected,
    OrderAccepted,
    OrderCanceled,
    OrderRejected,
    PlaceOrder,
    RejectReason,
)
from tradewind.common.contracts.types import OrderStatus, OrderType, Side, TimeInForce
from tradewind.orders.domain import (
    MarketView,
    Order,
    RiskRules,
    cancel,
    notional,
    place,
    to_snapshot,
)
from unit.orders.builders import MARKET_BUY, place_command

SUBMITTED = datetime(2025, 3, 3, 14, 30, tzinfo=UTC)
NOW = SUBMITTED + timedelta(milliseconds=40)
LATER = NOW + timedelta(minutes=5)

RULES = RiskRules(
    reference_prices={"AAPL": Decimal("190"), "MSFT": Decimal("420")},
    max_notional=Decimal("1000000"),
)
LISTED = MarketView(listed=True)
UNLISTED = MarketView(listed=False)


AAPL_DAY_BUY = {
    **MARKET_BUY,
    "symbol": "AAPL",
    "time_in_force": TimeInForce.DAY,
    "client_order_id": "my-order-1",
    "submitted_at": SUBMITTED,
}


def place_order(**overrides: Any) -> PlaceOrder:
    return place_command(AAPL_DAY_BUY, **overrides)


def accepted_order(**overrides: Any) -> Order:
    order = place(place_order(), RULES, LISTED, client_order_id_in_use=False, now=NOW).order
    return dataclasses.replace(order, **overrides)


# --- place: accepted ---


def test_place_accepts_an_order_within_the_rules() -> None:
    command = place_order(qty=Decimal("10.5"))

    placement = place(command, RULES, LISTED, client_order_id_in_use=False, now=NOW)

    order = placement.order
    assert order.id == command.order_id
    assert order.account_id == "acct-1"
    assert order.client_order_id == "my-order-1"
    assert (order.symbol, order.side, order.type) == ("AAPL", Side.BUY, OrderType.MARKET)
    assert order.qty == Decimal("10.5")
    assert order.limit_price is None
    assert order.time_in_force is TimeInForce.DAY
    assert order.status is OrderStatus.NEW
    assert order.filled_qty == 0
    assert order.submitted_at == SUBMITTED
    assert order.created_at == order.updated_at == order.accepted_at == NOW
    assert order.rejected_at is None
    assert order.canceled_at is None
    assert order.reject_reason is None
    assert order.version == 1
    assert placement.event == OrderAccepted(order=to_snapshot(order))


def test_a_limit_order_is_valued_at_its_limit_price() -> None:
    # 10_000 x 190 (reference) would exceed the limit; 10_000 x 50 (limit) does not.
    command = place_order(qty=Decimal("10000"), type=OrderType.LIMIT, limit_price=Decimal("50"))

    placement = place(command, RULES, LISTED, client_order_id_in_use=False, now=NOW)

    assert placement.order.status is OrderStatus.NEW
    assert placement.order.limit_price == Decimal("50")


def test_a_market_order_is_valued_at_the_reference_price() -> None:
    command = place_order(qty=Decimal("10000"))

    placement = place(command, RULES, LISTED, client_order_id_in_use=False, now=NOW)

    assert placement.order.reject_reason == RejectReason.NOTIONAL_LIMIT_EXCEEDED


def test_an_order_without_client_order_id_is_accepted() -> None:
    placement = place(
        place_order(client_order_id=None), RULES, LISTED, client_order_id_in_use=False, now=NOW
    )

    assert placement.order.status is OrderStatus.NEW
    assert placement.order.client_order_id is None


# --- place: rejected ---


def test_an_unknown_symbol_is_rejected() -> None:
    placement = place(
        place_order(symbol="NOPE"), RULES, UNLISTED, client_order_id_in_use=False, now=NOW
    )

    order = placement.order
    assert order.status is OrderStatus.REJECTED
    assert order.reject_reason == "unknown_symbol"
    assert order.rejected_at == order.updated_at == order.created_at == NOW
    assert order.accepted_at is None
    assert order.version == 1
    assert isinstance(placement.event, OrderRejected)
    assert placement.event.reason is RejectReason.UNKNOWN_SYMBOL
    assert "NOPE" in placement.event.message
    assert placement.event.order == to_snapshot(order)


def test_a_client_order_id_in_use_is_rejected() -> None:
    placement = place(place_order(), RULES, LISTED, client_order_id_in_use=True, now=NOW)

    assert placement.order.status is OrderStatus.REJECTED
    assert placement.order.client_order_id == "my-order-1"
    assert isinstance(placement.event, OrderRejected)
    assert placement.event.reason is RejectReason.DUPLICATE_CLIENT_ORDER_ID
    assert "my-order-1" in placement.event.message


def test_a_notional_above_the_limit_is_rejected() -> None:
    # 5264 x 190 = 1_000_160 > 1_000_000
    placement = place(
        place_order(qty=Decimal("5264")), RULES, LISTED, client_order_id_in_use=False, now=NOW
    )

    assert placement.order.status is OrderStatus.REJECTED
    assert isinstance(placement.event, OrderRejected)
    assert placement.event.reason is RejectReason.NOTIONAL_LIMIT_EXCEEDED
    assert "1000160" in placement.event.message
    assert "1000000" in placement.event.message


def test_a_notional_exactly_at_the_limit_is_accepted() -> None:
    command = place_order(type=OrderType.LIMIT, qty=Decimal("4000"), limit_price=Decimal("250"))

    placement = place(command, RULES, LISTED, client_order_id_in_use=False, now=NOW)

    assert placement.order.status is OrderStatus.NEW


def test_unknown_symbol_is_checked_before_a_duplicate_client_order_id() -> None:
    placement = place(
        place_order(symbol="NOPE"), RULES, UNLISTED, client_order_id_in_use=True, now=NOW
    )

    assert placement.order.reject_reason == "unknown_symbol"


def test_a_duplicate_client_order_id_is_checked_before_the_notional() -> None:
    command = place_order(qty=Decimal("1000000"))

    placement = place(command, RULES, LISTED, client_order_id_in_use=True, now=NOW)

    assert placement.order.reject_reason == "duplicate_client_order_id"


# --- decimals ---


def test_the_notional_is_exact_decimal_arithmetic() -> None:
    # In binary floating point 0.1 * 3 is 0.30000000000000004, which would exceed 0.3.
    rules = RiskRules(reference_prices={"PENNY": Decimal("3")}, max_notional=Decimal("0.3"))

    placement = place(
        place_order(symbol="PENNY", qty=Decimal("0.1")),
        rules,
        LISTED,
        client_order_id_in_use=False,
        now=NOW,
    )

    assert placement.order.status is OrderStatus.NEW


def test_the_notional_keeps_every_digit_of_large_products() -> None:
    qty = Decimal("123456789.123456789")
    price = Decimal("987654321.987654321")
    exact = Decimal("121932631356500531.347203169112635269")  # 36 digits: beyond 28-digit default

    assert notional(qty, price) == exact
    at_limit = RiskRules(reference_prices={"BIG": price}, max_notional=exact)
    just_below = RiskRules(reference_prices={"BIG": price}, max_notional=exact - Decimal("1e-18"))
    command = place_order(symbol="BIG", qty=qty)
    assert (
        place(command, at_limit, LISTED, client_order_id_in_use=False, now=NOW).order.reject_reason
        is None
    )
    assert (
        place(
            command, just_below, LISTED, client_order_id_in_use=False, now=NOW
        ).order.reject_reason
        == "notional_limit_exceeded"
    )


def test_the_event_carries_decimals_as_exact_strings() -> None:
    command = place_order(type=OrderType.LIMIT, qty=Decimal("0.10"), limit_price=Decimal("189.995"))

    placement = place(command, RULES, LISTED, client_order_id_in_use=False, now=NOW)

    snapshot = placement.event.model_dump(mode="json")["order"]
    assert snapshot["qty"] == "0.10"
    assert snapshot["limit_price"] == "189.995"
    assert snapshot["filled_qty"] == "0"


# --- cancel ---


@pytest.mark.parametrize(
    "status", [OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED, OrderStatus.PENDING_NEW]
)
def test_an_open_order_is_canceled(status: OrderStatus) -> None:
    order = accepted_order(status=status)

    outcome = cancel(order, LATER)

    canceled = outcome.order
    assert outcome.changed
    assert canceled.status is OrderStatus.CANCELED
    assert canceled.canceled_at == canceled.updated_at == LATER
    assert canceled.version == order.version + 1
    assert (
        dataclasses.replace(
            canceled, status=status, canceled_at=None, updated_at=NOW, version=order.version
        )
        == order
    ), "nothing but the status, its timestamps and the version changes"
    assert outcome.event == OrderCanceled(order=to_snapshot(canceled))


@pytest.mark.parametrize(
    "status",
    [
        OrderStatus.FILLED,
        OrderStatus.CANCELED,
        OrderStatus.EXPIRED,
        OrderStatus.REJECTED,
        OrderStatus.REPLACED,
    ],
)
def test_a_terminal_order_refuses_the_cancel(status: OrderStatus) -> None:
    order = accepted_order(status=status, version=3)

    outcome = cancel(order, LATER)

    assert not outcome.changed
    assert outcome.order == order
    assert isinstance(outcome.event, CancelRejected)
    assert outcome.event.reason == f"order is already {status.value}"
    assert outcome.event.order == to_snapshot(order)


def test_a_filled_order_says_so() -> None:
    outcome = cancel(accepted_order(status=OrderStatus.FILLED), LATER)

    assert isinstance(outcome.event, CancelRejected)
    assert outcome.event.reason == "order is already filled"


def test_canceling_twice_refuses_the_second_time() -> None:
    first = cancel(accepted_order(), LATER)

    second = cancel(first.order, LATER + timedelta(seconds=1))

    assert not second.changed
    assert second.order == first.order
    assert isinstance(second.event, CancelRejected)


# --- snapshot ---


def test_the_snapshot_carries_every_field_of_the_order() -> None:
    order = cancel(
        accepted_order(
            type=OrderType.STOP_LIMIT,
            limit_price=Decimal("1.5"),
            stop_price=Decimal("1.4"),
            filled_qty=Decimal("2"),
            filled_notional=Decimal("3.1"),
            stop_triggered_at=NOW,
            replaces=uuid4(),
        ),
        LATER,
    ).order

    # legs are the parent's other orders, which the read API adds; the order itself has none.
    snapshot = to_snapshot(order).model_dump(exclude={"legs"})

    assert snapshot == {name: getattr(order, name) for name in snapshot}
    assert snapshot["filled_avg_price"] == Decimal("1.55")
    kept_inside = set(dataclasses.asdict(order)) - set(snapshot)
    # The exact sum behind filled_avg_price, and what a buy holds of the account's cash.
    assert kept_inside == {"filled_notional", "hold_price"}
