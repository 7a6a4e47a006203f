"""The order bodies of the gateway's OpenAPI document accept exactly what the gateway accepts.

The document is the one the gateway serves; each body drawn here is judged by a JSON Schema
validator on that document and by the route's own model, and the two must agree.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema_rs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from tradewind.common.contracts.types import OrderType
from tradewind.gateway.app import create_app
from tradewind.gateway.domain.schemas import ORDER_VARIANTS, OrderRequest, ReplaceRequest

DOCUMENT = create_app().openapi()


def declared(component: str) -> jsonschema_rs.Validator:
    root = {"$ref": f"#/components/schemas/{component}", "components": DOCUMENT["components"]}
    return jsonschema_rs.validator_for(root, validate_formats=True)


ORDER = declared("OrderRequest")
REPLACE = declared("ReplaceRequest")


def accepted(model: type[BaseModel], body: dict[str, Any]) -> bool:
    try:
        model.model_validate_json(json.dumps(body))  # as the route reads it: JSON
    except ValidationError:
        return False
    return True


ABSENT = object()
prices = st.sampled_from(
    [ABSENT, None, "189.50", "1", 7, "0", "-1", "", "1e3", 1.5, "0.0000000001", True]
)
# Percentages: both sides of 0 and 100, and the places a contract carries.
percents = st.sampled_from(
    [ABSENT, None, "2", "0.5", 99, "99.999999999", "100", 100, "0", "0.0000000001", "1e1", "-3"]
)


def body(fields: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not ABSENT}


VALID_ORDER = {"symbol": "AAPL", "side": "buy", "qty": "10"}
# Values on both sides of each field's rules; a drawn order changes a valid one in a few fields
# (the prices in every draw), so it is often valid and often wrong in one way only.
WRONGS: dict[str, list[Any]] = {
    "symbol": ["brk.b", "\u00df", "", "A" * 17, 0],
    "side": ["sell", "hold"],
    "qty": [3, "0", "-2", "10.5", "1" * 19, None, ABSENT],
    "notional": ["500", "0", None, 12, "1.5"],
    "time_in_force": ["gtc", "ioc", "never", None],
    "client_order_id": [None, "my-order-1", "", "caf\u00e9"],
    "extra": ["field"],
}
orders = st.fixed_dictionaries(
    {
        "type": st.sampled_from([*OrderType, "teleport", None]),
        "limit_price": prices,
        "stop_price": prices,
        "trail_price": prices,
        "trail_percent": percents,
        "changes": st.dictionaries(st.sampled_from(sorted(WRONGS)), st.just(0), max_size=2).flatmap(
            lambda names: st.fixed_dictionaries(
                {name: st.sampled_from(WRONGS[name]) for name in names}
            )
        ),
    }
).map(lambda drawn: body({**VALID_ORDER, **drawn.pop("changes"), **drawn}))


@settings(max_examples=600)
@given(orders)
def test_an_order_is_accepted_exactly_when_the_document_allows_it(order: dict[str, Any]) -> None:
    assert accepted(OrderRequest, order) == ORDER.is_valid(order), order


@pytest.mark.parametrize("kind", list(ORDER_VARIANTS))
def test_each_kind_of_order_declares_the_fields_it_requires(kind: str) -> None:
    schema = ORDER_VARIANTS[kind].model_json_schema()
    order_type = OrderType(schema["properties"]["type"]["const"])
    required = set(schema["required"])
    assert ("limit_price" in required) is order_type.needs_limit_price
    assert ("stop_price" in required) is order_type.needs_stop_price
    assert required & {"qty", "notional"} == ({"notional"} if "notional" in kind else {"qty"})
    trails = required & {"trail_price", "trail_percent"}
    assert len(trails) == (1 if order_type.is_trailing else 0)


def test_the_document_declares_orders_as_one_of_their_kinds() -> None:
    schema = DOCUMENT["components"]["schemas"]["OrderRequest"]
    declared_types = {variant["properties"]["type"]["const"] for variant in schema["oneOf"]}
    assert declared_types == {order_type.value for order_type in OrderType}
    assert len(schema["oneOf"]) == len(ORDER_VARIANTS)


replacements = st.fixed_dictionaries(
    {},
    optional={
        "qty": prices,
        "limit_price": prices,
        "stop_price": prices,
        "trail_price": prices,
        "trail_percent": percents,
        "time_in_force": st.sampled_from(["day", "ioc", "never", None]),
        "client_order_id": st.sampled_from([None, "x", ""]),
        "side": st.just("buy"),
    },
).map(body)


@settings(max_examples=300)
@given(replacements)
def test_a_replace_is_accepted_exactly_when_the_document_allows_it(
    replace: dict[str, Any],
) -> None:
    assert accepted(ReplaceRequest, replace) == REPLACE.is_valid(replace), replace
