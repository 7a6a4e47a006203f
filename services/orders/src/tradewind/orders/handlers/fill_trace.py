"""Where an order and its fills meet in the traces.

An order is placed in one trace (the client's request, through the gateway and the command);
a fill on a later quote happens in that quote's trace (market-data published it). Each fill gets
a span of its own there, ``order fill``, linked to the span that placed the order (the
traceparent stored with it), and both carry ``tradewind.order_id``: searching that tag finds
the order's trace and every fill, and each fill's link leads back to the order. The fill event
is staged inside the fill span, so its publish and the webhooks consumer hang below it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from uuid import UUID

from opentelemetry import trace

from tradewind.common.contracts import OrderFill
from tradewind.common.trace_links import links_back_to
from tradewind.common.tracing import spans_recorded

tracer = trace.get_tracer("tradewind.orders")

ORDER_ID = "tradewind.order_id"


def mark_order(order_id: UUID) -> None:
    """Tag the current span (the command's consumer span) with the order it places."""
    trace.get_current_span().set_attribute(ORDER_ID, str(order_id))


@contextlib.contextmanager
def fill_span(fill: OrderFill, *, quote_sequence: int, placed_in: str | None) -> Iterator[None]:
    """The span of one fill, linked to the order's own trace when it is another one (a fill on
    arrival is in the order's trace already). No span object when nothing records spans."""
    if not spans_recorded():
        yield
        return
    with tracer.start_as_current_span(
        "order fill",
        links=links_back_to(placed_in),
        attributes={
            ORDER_ID: str(fill.order.id),
            "tradewind.execution_id": str(fill.execution_id),
            "tradewind.symbol": fill.order.symbol,
            "tradewind.quote_sequence": quote_sequence,
        },
    ):
        yield
