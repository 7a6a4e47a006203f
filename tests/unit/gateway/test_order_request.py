"""Order request validation: what reaches the broker is well formed."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from tradewind.gateway.domain.schemas import OrderRequest

BASE = {"symbol": "AAPL", "side": "buy", "qty": "10"}


def error_fields(body: dict[str, Any]) -> set[str]:
    with pytest.raises(ValidationError) as caught:
        OrderRequest.model_validate(body)
    return {".".join(str(p) for p in e["loc"]) for e in caught.value.errors()}


@pytest.mark.parametrize(
    ("extra", "limit", "stop"),
    [
        ({"type": "market"}, None, None),
        ({"type": "limit", "limit_price": "1.5"}, Decimal("1.5"), None),
        ({"type": "stop", "stop_price": "2"}, None, Decimal(2)),
        (
            {"type": "stop_limit", "stop_price": "2", "limit_price": "2.1"},
            Decimal("2.1"),
            Decimal(2),
        ),
    ],
)
def test_valid_orders_of_every_type(
    extra: dict[str, Any], limit: Decimal | None, stop: Decimal | None
) -> None:
    order = OrderRequest.model_validate({**BASE, **extra})
    assert order.limit_price == limit
    assert order.stop_price == stop
    assert order.time_in_force == "day"


@pytest.mark.parametrize(
    ("extra", "fields"),
    [
        ({"type": "limit"}, {"limit_price"}),
        ({"type": "market", "limit_price": "1"}, {"limit_price"}),
        ({"type": "stop"}, {"stop_price"}),
        ({"type": "stop_limit", "stop_price": "1"}, {"limit_price"}),
        ({"type": "market", "stop_price": "1"}, {"stop_price"}),
        ({"type": "market", "qty": "-1"}, {"qty"}),
        ({"type": "market", "qty": "1e400"}, {"qty"}),
        ({"type": "market", "qty": "0.0000000001"}, {"qty"}),
        ({"type": "market", "qty": 0.1}, {"qty"}),
        ({"type": "market", "qty": "Infinity"}, {"qty"}),
        ({"type": "market", "symbol": "not a symbol"}, {"symbol"}),
        ({"type": "market", "client_order_id": ""}, {"client_order_id"}),
        ({"type": "teleport"}, {"type"}),
    ],
)
def test_invalid_orders_name_the_field(extra: dict[str, Any], fields: set[str]) -> None:
    assert error_fields({**BASE, **extra}) == fields


def test_symbol_is_normalised_to_upper_case() -> None:
    assert (
        OrderRequest.model_validate({**BASE, "type": "market", "symbol": "msft"}).symbol == "MSFT"
    )


@pytest.mark.parametrize(
    ("extra", "fields"),
    [
        # Each of these passed the gateway once and was parked, stored or misread downstream.
        ({"client_order_id": "bad\x00id"}, {"client_order_id"}),
        ({"client_order_id": "x" * 129}, {"client_order_id"}),
        ({"client_order_id": "caf\u00e9"}, {"client_order_id"}),
        ({"qty": "\uff11\uff10"}, {"qty"}),
        ({"qty": "1_000"}, {"qty"}),
        ({"qty": " 10"}, {"qty"}),
        ({"symbol": "\u00df"}, {"symbol"}),
        ({"symbol": " msft "}, {"symbol"}),
        ({"type": "limit", "limit_price": "1\u0660"}, {"limit_price"}),
    ],
)
def test_what_the_stores_cannot_hold_is_refused_at_the_edge(
    extra: dict[str, Any], fields: set[str]
) -> None:
    assert error_fields({**BASE, "type": "market", **extra}) == fields


def test_integer_quantities_are_exact_decimals() -> None:
    order = OrderRequest.model_validate({**BASE, "type": "market", "qty": 3})
    assert order.qty == Decimal(3)
    assert order.model_dump(mode="json")["qty"] == "3"
