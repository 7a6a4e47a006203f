"""An order's terms checked once on the whole order give what the field-by-field check gives.

``OrderRequest`` validates a body's fields without their order rules, checks the rules once on
the result, and validates field by field only a body that fails (``schemas._fits_as_a_whole``).
Here every body is validated both ways, the second by a subclass without the whole-order check
(every field's rule runs, as before it existed), and the outcomes (the order, or every error with
its field and message) must be equal.
"""

from __future__ import annotations

from typing import Any
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ModelWrapValidatorHandler, ValidationError, model_validator

from tradewind.common.contracts.types import OrderType, TimeInForce
from tradewind.gateway.domain import schemas
from tradewind.gateway.domain.schemas import OrderRequest

TERMS = ("qty", "notional", "limit_price", "stop_price", "trail_price", "trail_percent")
ABSENT = object()

term_value = st.sampled_from([ABSENT, None, "1", "2.5", "0", "x", 3])
order_type = st.one_of(st.sampled_from([t.value for t in OrderType]), st.just("bogus"))
time_in_force = st.sampled_from([ABSENT, None, "bogus", *(t.value for t in TimeInForce)])


class FieldByField(OrderRequest):
    @model_validator(mode="wrap")
    @classmethod
    def _fits_as_a_whole(
        cls, data: Any, validate: ModelWrapValidatorHandler[FieldByField]
    ) -> FieldByField:
        return validate(data)


def _outcome(body: dict[str, Any], model: type[OrderRequest] = OrderRequest) -> object:
    try:
        return model.model_validate(body).model_dump()
    except ValidationError as refused:
        return [(error["loc"], error["msg"]) for error in refused.errors()]


@settings(max_examples=1500, deadline=None)
@given(
    kind=order_type,
    tif=time_in_force,
    terms=st.tuples(*(term_value for _ in TERMS)),
)
def test_the_whole_order_check_agrees_with_the_field_by_field_check(
    kind: str, tif: object, terms: tuple[object, ...]
) -> None:
    body: dict[str, Any] = {"symbol": "AAPL", "side": "buy", "type": kind}
    if tif is not ABSENT:
        body["time_in_force"] = tif
    body.update(
        {name: value for name, value in zip(TERMS, terms, strict=True) if value is not ABSENT}
    )
    assert _outcome(body) == _outcome(body, FieldByField)


def test_a_body_that_fits_is_not_validated_field_by_field() -> None:
    """The saving itself: a consistent order runs no field's rule."""
    body = {"symbol": "AAPL", "side": "buy", "type": "limit", "qty": "1", "limit_price": "150"}
    with mock.patch.object(schemas, "field_inconsistency") as field_rule:
        OrderRequest.model_validate(body)
    field_rule.assert_not_called()


def test_a_body_that_does_not_fit_names_each_field() -> None:
    body = {"symbol": "AAPL", "side": "buy", "type": "limit", "qty": "1", "stop_price": "2"}
    assert _outcome(body) == [
        (("limit_price",), "Value error, limit orders need a limit_price"),
        (("stop_price",), "Value error, limit orders have no stop_price"),
    ]
