"""The order rules' answers kept per shape of order are the rules' own answers, whatever the
values: what lets ``inconsistency`` keep them."""

from __future__ import annotations

from dataclasses import fields
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from tradewind.common.contracts import order_rules
from tradewind.common.contracts.order_rules import OrderTerms, inconsistency
from tradewind.common.contracts.types import OrderType, TimeInForce

amount = st.one_of(
    st.none(),
    st.decimals(min_value=Decimal("0.0001"), max_value=Decimal(10**9), places=4),
    st.sampled_from([Decimal(-1), Decimal(0)]),
)
AMOUNTS = [field.name for field in fields(OrderTerms) if field.type == "Decimal | None"]
terms = st.builds(
    OrderTerms,
    type=st.sampled_from(list(OrderType)),
    time_in_force=st.sampled_from(list(TimeInForce)),
    qty=amount,
    notional=amount,
    limit_price=amount,
    stop_price=amount,
    trail_price=amount,
    trail_percent=amount,
)


@settings(max_examples=3000, deadline=None)
@given(order=terms, again=terms)
def test_a_kept_answer_is_the_rules_answer(order: OrderTerms, again: OrderTerms) -> None:
    assert inconsistency(order) == order_rules._first_inconsistency(order)
    # The same shape with other values: answered from what was kept, and still right.
    same_shape = OrderTerms(
        type=order.type,
        time_in_force=order.time_in_force,
        **{
            name: None if getattr(order, name) is None else getattr(again, name) or Decimal(1)
            for name in AMOUNTS
        },
    )
    assert inconsistency(same_shape) == order_rules._first_inconsistency(same_shape)


def test_one_answer_is_kept_per_shape() -> None:
    order_rules._BY_SHAPE.clear()
    for qty in (Decimal(1), Decimal(2), Decimal("0.5")):
        inconsistency(OrderTerms(type=OrderType.LIMIT, time_in_force=TimeInForce.DAY, qty=qty))
    assert len(order_rules._BY_SHAPE) == 1
