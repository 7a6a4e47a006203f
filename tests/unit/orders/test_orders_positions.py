"""Position math at average cost: open, add, reduce, close, flip, realized P&L — exact decimals."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from tradewind.common.contracts.types import Side
from tradewind.orders.domain import Position, apply_fill, to_position_snapshot
from unit.orders.builders import T0

NOW = T0 + timedelta(minutes=1)


def flat() -> Position:
    return Position.flat("acct-1", "ACME", T0)


def trades(*fills: tuple[Side, str, str]) -> Position:
    position = flat()
    for side, qty, price in fills:
        position = apply_fill(position, side, Decimal(qty), Decimal(price), NOW)
    return position


BUY, SELL = Side.BUY, Side.SELL


def test_a_first_buy_opens_a_long_at_its_price() -> None:
    position = trades((BUY, "10", "100"))

    assert position.qty == Decimal("10")
    assert position.avg_entry_price == Decimal("100")
    assert position.realized_pl == 0
    assert position.updated_at == NOW


def test_a_first_sell_opens_a_short() -> None:
    position = trades((SELL, "5", "20.5"))

    assert position.qty == Decimal("-5")
    assert position.avg_entry_price == Decimal("20.5")
    assert position.realized_pl == 0


def test_adding_averages_the_entry_price_by_volume() -> None:
    position = trades((BUY, "10", "100"), (BUY, "30", "104"))

    assert position.qty == Decimal("40")
    assert position.avg_entry_price == Decimal("103")  # (1000 + 3120) / 40
    assert position.cost_basis == Decimal("4120")


def test_adding_to_a_short_averages_too() -> None:
    position = trades((SELL, "1", "10"), (SELL, "3", "14"))

    assert position.qty == Decimal("-4")
    assert position.avg_entry_price == Decimal("13")


def test_reducing_a_long_realizes_against_the_average_and_keeps_it() -> None:
    position = trades((BUY, "10", "100"), (BUY, "10", "110"), (SELL, "5", "120"))

    assert position.qty == Decimal("15")
    assert position.avg_entry_price == Decimal("105")
    assert position.realized_pl == Decimal("75")  # 5 x (120 - 105)


def test_reducing_a_short_at_a_lower_price_is_a_gain() -> None:
    position = trades((SELL, "10", "50"), (BUY, "4", "45"))

    assert position.qty == Decimal("-6")
    assert position.avg_entry_price == Decimal("50")
    assert position.realized_pl == Decimal("20")  # 4 x (50 - 45)


def test_a_loss_is_negative() -> None:
    position = trades((BUY, "2", "30"), (SELL, "2", "27.5"))

    assert position.realized_pl == Decimal("-5")


def test_closing_to_zero_leaves_a_flat_position_with_its_realized_pl() -> None:
    position = trades((BUY, "3", "10"), (BUY, "3", "11"), (SELL, "6", "12"))

    assert position.qty == 0
    assert position.cost_basis == 0
    assert position.avg_entry_price == 0
    assert position.realized_pl == Decimal("9")  # 6 x 12 - 63


def test_flipping_long_to_short_closes_then_opens_at_the_fill_price() -> None:
    position = trades((BUY, "10", "100"), (SELL, "15", "110"))

    assert position.qty == Decimal("-5")
    assert position.avg_entry_price == Decimal("110")
    assert position.realized_pl == Decimal("100")  # 10 x (110 - 100)


def test_flipping_short_to_long() -> None:
    position = trades((SELL, "4", "25"), (BUY, "10", "30"))

    assert position.qty == Decimal("6")
    assert position.avg_entry_price == Decimal("30")
    assert position.realized_pl == Decimal("-20")  # 4 x (25 - 30)


def test_realized_pl_accumulates_over_round_trips() -> None:
    position = trades(
        (BUY, "1", "10"), (SELL, "1", "12"), (SELL, "2", "12"), (BUY, "2", "11.5"), (BUY, "1", "9")
    )

    assert position.qty == Decimal("1")
    assert position.avg_entry_price == Decimal("9")
    assert position.realized_pl == Decimal("3")  # 2 + 1


def test_fractional_quantities_stay_exact() -> None:
    # In binary floating point 0.1 + 0.2 is not 0.3; here every figure is exact.
    position = trades((BUY, "0.1", "0.3"), (BUY, "0.2", "0.3"), (SELL, "0.3", "0.4"))

    assert position.qty == 0
    assert position.realized_pl == Decimal("0.03")


def test_an_average_that_does_not_divide_is_rounded_only_when_shown() -> None:
    position = trades((BUY, "1", "100"), (BUY, "2", "101"))  # 302 / 3

    assert position.cost_basis == Decimal("302"), "the stored cost stays exact"
    assert position.avg_entry_price == Decimal("100.666666667")
    closed = apply_fill(position, SELL, Decimal("3"), Decimal("101"), NOW)
    assert closed.realized_pl == Decimal("1"), "closing all of it leaves no rounding behind"


def test_partially_closing_an_uneven_average_keeps_the_rest_consistent() -> None:
    position = trades((BUY, "1", "100"), (BUY, "2", "101"), (SELL, "1", "102"))
    rest_closed = apply_fill(position, SELL, Decimal("2"), Decimal("102"), NOW)

    # 102 - 302/3, carried to far more digits than the 28 of Decimal's default context
    assert str(position.realized_pl).startswith("1." + "3" * 50)
    assert rest_closed.qty == 0
    assert rest_closed.realized_pl == Decimal("4")  # 3 x 102 - 302


@pytest.mark.parametrize(
    ("fills", "qty", "avg", "realized"),
    [
        ([(BUY, "5", "10")], "5", "10", "0"),
        ([(BUY, "5", "10"), (SELL, "5", "10")], "0", "0", "0"),
        ([(SELL, "5", "10"), (BUY, "8", "9")], "3", "9", "5"),
        ([(BUY, "2", "10"), (SELL, "1", "11"), (SELL, "3", "8")], "-2", "8", "-1"),
    ],
)
def test_positions_table(
    fills: list[tuple[Side, str, str]], qty: str, avg: str, realized: str
) -> None:
    position = trades(*fills)

    assert (position.qty, position.avg_entry_price, position.realized_pl) == (
        Decimal(qty),
        Decimal(avg),
        Decimal(realized),
    )


def test_the_snapshot_rounds_to_what_a_contract_carries() -> None:
    position = trades((BUY, "1", "100"), (BUY, "2", "101"), (SELL, "1", "102"))

    snapshot = to_position_snapshot(position).model_dump(mode="json")

    assert snapshot == {
        "account_id": "acct-1",
        "symbol": "ACME",
        "qty": "2",
        "avg_entry_price": "100.666666667",
        "realized_pl": "1.333333333",
        "updated_at": NOW.isoformat().replace("+00:00", "Z"),
    }
