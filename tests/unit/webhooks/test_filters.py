import pytest

from tradewind.common.contracts.event_filters import matches, validate_filter


def test_empty_filter_list_matches_everything() -> None:
    assert matches([], "order.filled")


@pytest.mark.parametrize(
    ("filters", "event_type", "expected"),
    [
        (["order.filled"], "order.filled", True),
        (["order.filled"], "order.filled_partially", False),
        (["order.filled"], "order", False),
        (["order.*"], "order.filled", True),
        (["order.*"], "order.partially_filled", True),
        (["order.*"], "order.fill.partial", True),
        (["order.*"], "order", False),
        (["order.*"], "orders.x", False),
        (["order.*"], "orderbook.updated", False),
        (["*"], "order.filled", True),
        (["*"], "heartbeat", True),
        (["order.*.created"], "order.limit.created", True),
        (["order.*.created"], "order.limit.cancelled", False),
        (["order.*.created"], "order.created", False),
        (["trade.executed", "order.*"], "order.cancelled", True),
        (["trade.executed", "order.*"], "position.opened", False),
    ],
)
def test_matches(filters: list[str], event_type: str, expected: bool) -> None:
    assert matches(filters, event_type) is expected


@pytest.mark.parametrize("valid", ["order.filled", "order.*", "*", "order.*.created", "a_1.b"])
def test_validate_filter_accepts(valid: str) -> None:
    validate_filter(valid)


@pytest.mark.parametrize(
    ("malformed", "message"),
    [
        ("", "empty"),
        ("order..filled", "empty segment at position 2"),
        (".order", "empty segment at position 1"),
        ("order.", "empty segment at position 2"),
        ("order.fill*", "whole segment"),
        ("**", "whole segment"),
        ("Order.filled", "'O' at position 0"),
        ("order filled", "' ' at position 5"),
        ("order-filled", "'-'"),
    ],
)
def test_validate_filter_rejects(malformed: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_filter(malformed)
