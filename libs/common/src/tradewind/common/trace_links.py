"""A record's trace context, stored with it, and links back to it from work done in other traces.

Some work happens because of a record made earlier, in another trace: a quote fills an order
that a request placed minutes ago. The quote's trace is the fill's parent (it caused it); the
order's own trace is where the order came from. Storing the W3C ``traceparent`` current when the
record was made, and linking to it from the later span, lets an operator go from one to the
other (Jaeger shows a link as a reference to the other trace).
"""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.trace import Link, SpanContext
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

# Only the W3C trace context: what is stored is one traceparent, whatever else is propagated.
_W3C = TraceContextTextMapPropagator()


def current_traceparent() -> str | None:
    """The W3C traceparent of the current span (recorded or not); None without trace context."""
    carrier: dict[str, str] = {}
    _W3C.inject(carrier)
    return carrier.get("traceparent")


def span_context_of(traceparent: str | None) -> SpanContext | None:
    """The span a stored traceparent names; None if it is missing or malformed."""
    if not traceparent:
        return None
    context = trace.get_current_span(_W3C.extract({"traceparent": traceparent}))
    span_context = context.get_span_context()
    return span_context if span_context.is_valid else None


def links_back_to(traceparent: str | None) -> list[Link]:
    """A link to the span ``traceparent`` names, unless it is of the current trace (then the
    parent chain already leads there) or missing."""
    target = span_context_of(traceparent)
    if target is None:
        return []
    if target.trace_id == trace.get_current_span().get_span_context().trace_id:
        return []
    return [Link(target)]
