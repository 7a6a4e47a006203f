"""A stored traceparent and the link back to it from a span of another trace."""

from __future__ import annotations

from uuid import uuid4

from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from tradewind.common.trace_links import current_traceparent, links_back_to, span_context_of


def a_span_context() -> SpanContext:
    return SpanContext(
        trace_id=int(uuid4().hex, 16),
        span_id=int(uuid4().hex[:16], 16),
        is_remote=False,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )


def test_the_stored_traceparent_names_the_current_span() -> None:
    placing = a_span_context()
    with trace.use_span(NonRecordingSpan(placing)):
        stored = current_traceparent()
    assert stored == f"00-{placing.trace_id:032x}-{placing.span_id:016x}-01"
    named = span_context_of(stored)
    assert named is not None
    assert (named.trace_id, named.span_id) == (placing.trace_id, placing.span_id)


def test_without_trace_context_nothing_is_stored() -> None:
    assert current_traceparent() is None


def test_a_span_of_another_trace_links_back_to_the_stored_one() -> None:
    placing, filling = a_span_context(), a_span_context()
    with trace.use_span(NonRecordingSpan(placing)):
        stored = current_traceparent()
    with trace.use_span(NonRecordingSpan(filling)):
        links = links_back_to(stored)
    assert [(link.context.trace_id, link.context.span_id) for link in links] == [
        (placing.trace_id, placing.span_id)
    ]


def test_no_link_within_the_same_trace_nor_to_a_missing_or_malformed_one() -> None:
    placing = a_span_context()
    with trace.use_span(NonRecordingSpan(placing)):
        stored = current_traceparent()
        assert links_back_to(stored) == []
    assert links_back_to(None) == []
    assert links_back_to("00-not-a-trace-01") == []
