"""The pending view written from the command's JSON form is the view the model writes.

The order route answers (and keeps in Redis) ``pending_view_json(command, data)``, written from
``command.model_dump(mode="json")`` without building the view model. Here every accepted order is
given both ways and the two JSON documents must be equal: every field, its name and its value.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tradewind.gateway.domain import orders
from tradewind.gateway.domain.orders import pending_view, pending_view_json, place_command
from tradewind.gateway.domain.schemas import OrderRequest

NOW = datetime(2026, 12, 6, 9, 30, 0, 123456, tzinfo=UTC)
SIMPLE = {"symbol": "AAPL", "side": "buy", "type": "limit", "qty": "1", "limit_price": "150"}

decimal_text = st.one_of(
    st.sampled_from(["1", "0.5", "150", "189.50", "0.000000001", "999999999.99", "10.000"]),
    st.decimals(min_value="0.01", max_value="100000", places=4).map(str),
)
# For each order type, the prices it needs (a trailing stop needs one of its two trails).
prices_of_type = {
    "market": st.just({}),
    "limit": st.fixed_dictionaries({"limit_price": decimal_text}),
    "stop": st.fixed_dictionaries({"stop_price": decimal_text}),
    "stop_limit": st.fixed_dictionaries({"stop_price": decimal_text, "limit_price": decimal_text}),
    "trailing_stop": st.one_of(
        st.fixed_dictionaries({"trail_price": decimal_text}),
        st.fixed_dictionaries({"trail_percent": st.sampled_from(["0.5", "2", "10.25"])}),
    ),
}
orders_of_any_type = st.sampled_from(sorted(prices_of_type)).flatmap(
    lambda kind: st.tuples(st.just(kind), prices_of_type[kind])
)


def _view_both_ways(body: dict[str, Any], *, at: datetime = NOW) -> tuple[Any, Any]:
    request = OrderRequest.model_validate(body)
    command = place_command(request, account_id="acct-1", now=at, order_id=uuid.uuid4())
    written = pending_view_json(command, command.model_dump(mode="json"))
    return json.loads(written), json.loads(pending_view(command).model_dump_json())


@settings(max_examples=400, deadline=None)
@given(
    kind_and_prices=orders_of_any_type,
    size=st.one_of(
        st.fixed_dictionaries({"qty": decimal_text}),
        st.fixed_dictionaries({"notional": decimal_text}),
    ),
    side=st.sampled_from(["buy", "sell"]),
    symbol=st.sampled_from(["AAPL", "msft", "BRK.B"]),
    time_in_force=st.sampled_from([None, "day", "gtc", "ioc", "fok"]),
    client_order_id=st.one_of(st.none(), st.text(st.characters(codec="ascii"), max_size=40)),
    microseconds=st.integers(min_value=0, max_value=10**9),
)
def test_the_view_from_the_json_form_is_the_models_view(
    kind_and_prices: tuple[str, dict[str, str]],
    size: dict[str, str],
    side: str,
    symbol: str,
    time_in_force: str | None,
    client_order_id: str | None,
    microseconds: int,
) -> None:
    kind, prices = kind_and_prices
    body: dict[str, Any] = {"symbol": symbol, "side": side, "type": kind, **size, **prices}
    if time_in_force is not None:
        body["time_in_force"] = time_in_force
    if client_order_id is not None:
        body["client_order_id"] = client_order_id
    try:
        OrderRequest.model_validate(body)
    except ValidationError:
        return  # not an order the route would place (e.g. a notional limit order)
    written, modelled = _view_both_ways(body, at=NOW + timedelta(microseconds=microseconds))
    assert written == modelled


def test_a_simple_order_is_viewed_without_the_view_model() -> None:
    """The saving itself: no OrderView is built for a simple order."""
    with mock.patch.object(orders, "pending_view") as model_way:
        written, modelled = _view_both_ways(SIMPLE)  # compares with the unpatched function
    model_way.assert_not_called()
    assert written == modelled


def test_an_order_with_legs_gets_the_models_view_with_its_legs() -> None:
    bracket = {
        **SIMPLE,
        "time_in_force": "gtc",
        "order_class": "bracket",
        "take_profit": {"limit_price": "200"},
        "stop_loss": {"stop_price": "140", "limit_price": "139.5"},
    }
    written, modelled = _view_both_ways(bracket)
    assert written == modelled
    assert [leg["type"] for leg in written["legs"]] == ["limit", "stop_limit"]
