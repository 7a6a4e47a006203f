"""A statement built from the filters given names each value by its place in the arguments."""

from __future__ import annotations

from tradewind.common.statement_args import StatementArgs


def test_each_value_added_is_named_by_the_next_placeholder() -> None:
    arg = StatementArgs("account-1", ["fill"])
    condition = f"symbol = {arg('AAPL')} AND qty > {arg(5)}"
    assert condition == "symbol = $3 AND qty > $4"
    assert arg.values == ["account-1", ["fill"], "AAPL", 5]


def test_with_no_values_the_first_placeholder_is_one() -> None:
    arg = StatementArgs()
    assert arg(None) == "$1"
    assert arg.values == [None]
