"""The order route's command and pending view, written as JSON without their models, are what
the models give.

The route writes the command's JSON form from the request (``place_command_json``), the envelope
and the pending view from that form (``pending_view_json``), and checks the order-class rules on
the request (``order_class_refusal``). Here every generated order is also taken the models' way
(``place_command``, ``place_violation``, ``pending_view``) and the two must agree: the command
the orders service decodes, the JSON itself, the refusal, and the view field by field.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tradewind.common.contracts import PlaceOrder
from tradewind.common.contracts.order_classes import place_violation
from tradewind.gateway.domain import orders
from tradewind.gateway.domain.orders import (
    order_class_refusal,
    pending_view,
    pending_view_json,
    place_command,
    place_command_json,
)
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
# Simple orders mostly; the classes with legs often break their rules, which is compared too.
order_classes: st.SearchStrategy[dict[str, Any]] = st.one_of(
    st.just({}),
    st.fixed_dictionaries(
        {"order_class": st.sampled_from(["simple", "bracket", "oco", "oto"])},
        optional={
            "take_profit": st.fixed_dictionaries({"limit_price": decimal_text}),
            "stop_loss": st.one_of(
                st.fixed_dictionaries({"stop_price": decimal_text}),
                st.fixed_dictionaries({"stop_price": decimal_text, "limit_price": decimal_text}),
                st.fixed_dictionaries({"trail_percent": st.just("1.5")}),
            ),
        },
    ),
)


@settings(max_examples=1000, deadline=None)
@given(
    kind_and_prices=orders_of_any_type,
    size=st.one_of(
        *[st.fixed_dictionaries({"qty": decimal_text})] * 3,  # notional suits market day orders
        st.fixed_dictionaries({"notional": decimal_text}),
    ),
    side=st.sampled_from(["buy", "sell"]),
    symbol=st.sampled_from(["AAPL", "msft", "BRK.B"]),
    time_in_force=st.sampled_from([None, "day", "gtc", "ioc", "fok"]),
    client_order_id=st.one_of(
        st.none(), st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1)
    ),
    order_class=order_classes,
    microseconds=st.integers(min_value=0, max_value=10**9),
)
def test_the_json_forms_are_what_the_models_give(
    kind_and_prices: tuple[str, dict[str, str]],
    size: dict[str, str],
    side: str,
    symbol: str,
    time_in_force: str | None,
    client_order_id: str | None,
    order_class: dict[str, Any],
    microseconds: int,
) -> None:
    kind, prices = kind_and_prices
    body: dict[str, Any] = {
        "symbol": symbol,
        "side": side,
        "type": kind,
        **size,
        **prices,
        **order_class,
    }
    if time_in_force is not None:
        body["time_in_force"] = time_in_force
    if client_order_id is not None:
        body["client_order_id"] = client_order_id
    try:
        request = OrderRequest.model_validate(body)
    except ValidationError:
        event("refused by OrderRequest")
        return  # the route answers 422 before any of this (e.g. a notional limit order)
    now = NOW + timedelta(microseconds=microseconds)
    order_id = uuid.uuid4()
    command = place_command(request, account_id="acct-1", now=now, order_id=order_id)

    assert order_class_refusal(request) == place_violation(command)
    if order_class_refusal(request) is not None:
        event("refused by the order-class rules")
        return  # a 422: nothing is written
    event(f"written: {request.order_class.value}")

    _assert_the_forms_agree(request, command)


def _assert_the_forms_agree(request: OrderRequest, command: PlaceOrder) -> None:
    data = place_command_json(
        request,
        account_id=command.account_id,
        now=command.submitted_at,
        order_id=command.order_id,
    )
    decoded = PlaceOrder.model_validate(data)  # as the orders service reads the envelope's data
    assert decoded == command
    assert decoded.model_dump(mode="json") == data
    assert json.loads(pending_view_json(data)) == json.loads(
        pending_view(command).model_dump_json()
    )


def test_a_simple_order_is_written_without_the_command_or_view_model() -> None:
    """The saving itself: neither model is built for a simple order."""
    request = OrderRequest.model_validate(SIMPLE)
    with (
        mock.patch.object(orders, "pending_view") as view_model,
        mock.patch.object(orders, "PlaceOrder") as command_model,
    ):
        data = place_command_json(request, account_id="acct-1", now=NOW, order_id=uuid.uuid4())
        pending_view_json(data)
    view_model.assert_not_called()
    command_model.assert_not_called()
    command_model.model_validate.assert_not_called()


LEGS = {
    "bracket": {"take_profit": {"limit_price": "200"}, "stop_loss": {"stop_price": "140"}},
    "bracket, stop-limit": {
        "take_profit": {"limit_price": "200"},
        "stop_loss": {"stop_price": "140", "limit_price": "139.5"},
    },
    "bracket, trailing": {
        "take_profit": {"limit_price": "200"},
        "stop_loss": {"trail_percent": "1.5"},
    },
    "oto, take-profit": {"order_class": "oto", "take_profit": {"limit_price": "200"}},
    "oto, stop-loss": {"order_class": "oto", "stop_loss": {"stop_price": "140"}},
}


@pytest.mark.parametrize("legs", LEGS.values(), ids=LEGS.keys())
def test_an_order_with_legs_gets_the_models_view_with_its_legs(legs: dict[str, Any]) -> None:
    body = {**SIMPLE, "time_in_force": "gtc", "order_class": "bracket", **legs}
    request = OrderRequest.model_validate(body)
    assert order_class_refusal(request) is None
    command = place_command(request, account_id="acct-1", now=NOW, order_id=uuid.uuid4())
    _assert_the_forms_agree(request, command)
    view = json.loads(
        pending_view_json(
            place_command_json(request, account_id="acct-1", now=NOW, order_id=command.order_id)
        )
    )
    assert len(view["legs"]) == len(legs) - ("order_class" in legs)


def test_an_oco_order_gets_the_models_view() -> None:
    body = {**SIMPLE, "side": "sell", "order_class": "oco", "limit_price": "200"}
    request = OrderRequest.model_validate({**body, "stop_loss": {"stop_price": "140"}})
    assert order_class_refusal(request) is None
    command = place_command(request, account_id="acct-1", now=NOW, order_id=uuid.uuid4())
    _assert_the_forms_agree(request, command)
