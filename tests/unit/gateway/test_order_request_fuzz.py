"""Any order body is refused (a 422) or becomes a command the orders service accepts as it is.

The orders service decodes a command with the shared contract (``CloudEvent.data_as``) and parks
one it cannot read; a body the gateway accepted must therefore always decode there, as the command
the models would make.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tradewind.common.contracts import PlaceOrder
from tradewind.common.envelope import CloudEvent, encoded_event
from tradewind.gateway.domain.orders import place_command, place_command_json
from tradewind.gateway.domain.schemas import OrderRequest

FIELDS = (
    "symbol",
    "side",
    "type",
    "qty",
    "limit_price",
    "stop_price",
    "time_in_force",
    "client_order_id",
)

# Near misses of valid values, where the bugs live, and anything at all.
tricky_text = st.sampled_from(
    [
        "AAPL",
        "aapl",
        "brk.b",
        "\\u00df",
        "\\uff21\\uff21\\uff30\\uff2c",
        "10",
        "0.5",
        "\\uff11\\uff10",
        "1_000",
        " 10",
        "1e3",
        "NaN",
        "0",
        "-1",
        "0.0000000001",
        "9" * 19,
        "buy",
        "sell",
        "market",
        "limit",
        "stop",
        "stop_limit",
        "day",
        "gtc",
        "ioc",
        "fok",
        "bad\\x00id",
        "\\u202eevil",
        "x" * 128,
        "x" * 129,
        "",
    ]
)
json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="ascii"), max_size=140),
    tricky_text,
)
order_bodies = st.dictionaries(
    st.one_of(st.sampled_from(FIELDS), st.text(max_size=8)), json_scalar, max_size=10
)


def _refused_or_accepted_downstream(body: dict[str, Any]) -> bool:
    """True if the gateway accepts the body; then the orders service reads the same command.

    The command is written as the order route writes it (``place_command_json`` into an
    ``encoded_event``) and read as the orders service reads it off the queue."""
    try:
        request = OrderRequest.model_validate_json(json.dumps(body))
    except ValidationError:
        return False  # the gateway answers 422
    now, order_id = datetime.now(UTC), uuid.uuid4()
    command = place_command(request, account_id="acct-1", now=now, order_id=order_id)
    data = place_command_json(request, account_id="acct-1", now=now, order_id=order_id)
    envelope = encoded_event(
        source="/tests", data=data, event_type=PlaceOrder.TYPE, time=now, account_id="acct-1"
    )
    decoded = CloudEvent.from_json(envelope.to_json()).data_as(PlaceOrder)
    assert decoded == command
    text_fields = [decoded.symbol, decoded.client_order_id or ""]
    assert all(value.isascii() and value.isprintable() for value in text_fields)
    return True


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=order_bodies)
def test_an_order_body_is_refused_or_becomes_a_command_orders_accepts(
    body: dict[str, Any],
) -> None:
    _refused_or_accepted_downstream(body)


def _mostly(*valid: str) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(valid), tricky_text)


@settings(max_examples=400, deadline=None)
@given(
    body=st.fixed_dictionaries(
        {
            "symbol": _mostly("AAPL", "msft", "BRK.B"),
            "side": _mostly("buy", "sell"),
            "type": _mostly("market", "limit"),
            "qty": _mostly("1", "0.5", "100"),
        },
        optional={
            "limit_price": _mostly("189.50"),
            "client_order_id": st.one_of(tricky_text, st.text(max_size=130)),
        },
    )
)
def test_near_valid_order_bodies_are_refused_or_accepted_downstream(body: dict[str, Any]) -> None:
    if _refused_or_accepted_downstream(body):
        event("accepted")  # hypothesis statistics show both outcomes are exercised
