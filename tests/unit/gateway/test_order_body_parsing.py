"""The direct order entry reads a body with pydantic-core's JSON parser; the route reads it with
json.loads and validates the result. The entry may take a body only if the route would take it
as the same order: everything else it hands to the route, which answers as it always has.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tradewind.gateway.api.direct_orders import _acceptable_order
from tradewind.gateway.domain.schemas import OrderRequest

FIELDS = ("symbol", "side", "type", "qty", "notional", "limit_price", "time_in_force")
VALUES: list[Any] = [
    "AAPL",
    "aapl",
    "buy",
    "sell",
    "market",
    "limit",
    "day",
    "gtc",
    "1",
    "0.5",
    "10.000",
    "\uff11\uff10",
    "1_000",
    " 1",
    "1e3",
    "NaN",
    "-1",
    "0",
    1,
    1.0,
    1.5,
    10**30,
    -0.0,
    True,
    None,
    [],
    {},
    "\x00",
    "\u202e",
    "\ud800",
]
bodies = st.dictionaries(st.sampled_from(FIELDS), st.sampled_from(VALUES), max_size=7).map(
    lambda body: {"symbol": "AAPL", "side": "buy", "type": "market", "qty": "1", **body}
)
# The same body written in ways JSON allows and the two parsers may treat differently.
spellings = st.sampled_from(["plain", "ascii escapes", "duplicate key", "utf-16", "spaced"])


def _written(body: dict[str, Any], spelling: str) -> bytes:
    if spelling == "ascii escapes":
        return json.dumps(body, ensure_ascii=True).encode()
    if spelling == "duplicate key":  # a first "qty" the second one overrides
        return b'{"qty": "999",' + json.dumps(body, ensure_ascii=False)[1:].encode(
            "utf-8", "surrogatepass"
        )
    if spelling == "utf-16":
        return json.dumps(body).encode("utf-16")
    if spelling == "spaced":
        return json.dumps(body, indent=3).encode()
    return json.dumps(body, ensure_ascii=False).encode("utf-8", "surrogatepass")


def _the_routes_order(raw: bytes) -> OrderRequest | None:
    try:
        return OrderRequest.model_validate(json.loads(raw))
    except (ValueError, ValidationError, RecursionError):
        return None


@settings(max_examples=1500, deadline=None)
@given(body=bodies, spelling=spellings)
def test_the_entry_takes_a_body_only_as_the_route_would(
    body: dict[str, Any], spelling: str
) -> None:
    raw = _written(body, spelling)
    taken = _acceptable_order(raw, "application/json")
    if taken is not None:
        assert taken == _the_routes_order(raw)


def test_a_valid_order_is_taken_by_the_entry() -> None:
    raw = b'{"symbol": "aapl", "side": "buy", "type": "limit", "qty": 1, "limit_price": "150.50"}'
    assert _acceptable_order(raw, "application/json") == _the_routes_order(raw) is not None


def test_json_nested_past_the_recursion_limit_goes_to_the_route() -> None:
    assert _acceptable_order(b"[" * 100_000 + b"]" * 100_000, "application/json") is None
