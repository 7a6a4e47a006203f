"""The GraphQL types take their values from the read models under the same names."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from uuid import uuid4

import pytest
import strawberry
from pydantic import BaseModel

from tradewind.common.contracts.account import AccountView
from tradewind.common.contracts.market import Instrument as InstrumentModel
from tradewind.common.contracts.orders import OrderView
from tradewind.common.contracts.types import OrderClass, OrderStatus, OrderType, Side, TimeInForce
from tradewind.gateway.api.graphql.field_copy import copied_field_names
from tradewind.gateway.api.graphql.types import Account, Instrument, Order, Position, Quote
from tradewind.gateway.domain.schemas import LatestQuote
from tradewind.gateway.domain.schemas import Position as PositionModel

# What Order.of computes instead of copying: GraphQL IDs, and the read model's names that differ.
_ORDER_COMPUTED = {"id", "replaces_id", "replaced_by_id", "parent_id", "legs"}


@pytest.mark.parametrize(
    ("graphql_type", "model", "computed"),
    [
        (Order, OrderView, _ORDER_COMPUTED),
        (Position, PositionModel, set()),
        (Account, AccountView, set()),
        (Instrument, InstrumentModel, set()),
        (Quote, LatestQuote, set()),
    ],
)
def test_every_copied_field_is_a_field_of_the_read_model(
    graphql_type: type[object], model: type[BaseModel], computed: set[str]
) -> None:
    copied = set(copied_field_names(graphql_type)) - computed
    assert copied <= set(model.model_fields)


def test_an_order_keeps_its_values_and_its_links_become_ids() -> None:
    now = datetime.now(UTC)
    parent_id, replaced_id = uuid4(), uuid4()
    leg = OrderView(
        id=uuid4(),
        client_order_id=None,
        symbol="AAPL",
        side=Side.SELL,
        type=OrderType.LIMIT,
        qty=Decimal(1),
        limit_price=Decimal(200),
        time_in_force=TimeInForce.GTC,
        status=OrderStatus.HELD,
        filled_qty=Decimal(0),
        submitted_at=now,
        created_at=now,
        updated_at=now,
        order_class=OrderClass.BRACKET,
        parent_id=parent_id,
    )
    order = leg.model_copy(
        update={
            "id": parent_id,
            "client_order_id": "mine",
            "side": Side.BUY,
            "status": OrderStatus.NEW,
            "parent_id": None,
            "replaces": replaced_id,
            "legs": [leg],
        }
    )

    shown = Order.of(order)

    assert shown.id == strawberry.ID(str(parent_id))
    assert (shown.client_order_id, shown.symbol, shown.side, shown.status) == (
        "mine",
        "AAPL",
        Side.BUY,
        OrderStatus.NEW,
    )
    assert (shown.limit_price, shown.filled_qty, shown.updated_at) == (
        Decimal(200),
        Decimal(0),
        now,
    )
    assert shown.replaces_id == strawberry.ID(str(replaced_id))
    assert shown.replaced_by_id is None
    assert shown.parent_id is None
    assert shown.legs is not None
    assert [child.parent_id for child in shown.legs] == [strawberry.ID(str(parent_id))]
    assert shown.legs[0].legs is None
