"""Which bindings the events queue needs: endpoint filters → AMQP patterns, and the changes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradewind.common.broker.memory import topic_matches
from tradewind.common.contracts.event_filters import matches, validate_filter
from tradewind.webhooks.domain.delivery_rules import (
    BindingChanges,
    binding_changes,
    binding_patterns,
    topic_pattern,
)

# --- RabbitMQ's topic matching (the in-memory test broker's, checked against the documentation's
# examples below): words are separated by ".", "*" substitutes exactly one word, "#" zero or more.
amqp_topic_matches = topic_matches


@pytest.mark.parametrize(
    ("pattern", "routing_key", "expected"),
    [
        ("*.orange.*", "quick.orange.rabbit", True),
        ("*.orange.*", "quick.orange.male.rabbit", False),
        ("*.*.rabbit", "lazy.pink.rabbit", True),
        ("lazy.#", "lazy.orange.male.rabbit", True),
        ("lazy.#", "lazy", True),
        ("lazy.#", "lazier.rabbit", False),
        ("#", "orange", True),
        ("a.#.b", "a.b", True),
        ("a.#.b", "a.x.y.b", True),
        ("a.#.b", "a.x.y", False),
        ("order.accepted", "order.accepted", True),
        ("order.accepted", "order.accepted.v2", False),
    ],
)
def test_the_reference_matcher_follows_rabbitmqs_examples(
    pattern: str, routing_key: str, expected: bool
) -> None:
    assert amqp_topic_matches(pattern, routing_key) is expected


# --- the mapping ---


@pytest.mark.parametrize(
    ("event_filter", "pattern"),
    [
        ("order.accepted", "order.accepted"),
        ("order.*", "order.#"),
        ("order.*.created", "order.*.created"),
        ("*.filled", "*.filled"),
        ("*.*", "*.#"),
        ("*", "#"),
        ("market.quote.*", "market.quote.#"),
    ],
)
def test_a_filter_becomes_a_topic_pattern(event_filter: str, pattern: str) -> None:
    assert topic_pattern(event_filter) == pattern


def test_the_pattern_may_route_more_than_the_filter_matches() -> None:
    # "order.#" also routes "order"; the intake's exact filtering drops it.
    assert amqp_topic_matches(topic_pattern("order.*"), "order")
    assert not matches(["order.*"], "order")


SEGMENT = st.text(alphabet="abcz019_", min_size=1, max_size=4)
FILTER_SEGMENT = st.one_of(SEGMENT, st.just("*"))


@st.composite
def filters(draw: st.DrawFn) -> str:
    event_filter = ".".join(draw(st.lists(FILTER_SEGMENT, min_size=1, max_size=5)))
    validate_filter(event_filter)
    return event_filter


@st.composite
def filter_and_type(draw: st.DrawFn) -> tuple[str, str]:
    """A filter and an event type that often (not always) matches it: each "*" replaced by a
    random segment (several for a trailing one), or an unrelated type."""
    event_filter = draw(filters())
    segments = event_filter.split(".")
    derived: list[str] = []
    for position, segment in enumerate(segments):
        if segment != "*":
            derived.append(segment)
        elif position == len(segments) - 1:
            derived.extend(draw(st.lists(SEGMENT, min_size=0, max_size=3)))
        else:
            derived.append(draw(SEGMENT))
    unrelated = ".".join(draw(st.lists(SEGMENT, min_size=1, max_size=6)))
    event_type = draw(st.sampled_from([".".join(derived) or unrelated, unrelated]))
    return event_filter, event_type


@settings(max_examples=1000, deadline=None)
@given(filter_and_type())
def test_every_type_a_filter_matches_is_routed_by_its_pattern(case: tuple[str, str]) -> None:
    event_filter, event_type = case
    if matches([event_filter], event_type):
        assert amqp_topic_matches(topic_pattern(event_filter), event_type)


@settings(max_examples=500, deadline=None)
@given(
    endpoints=st.lists(st.lists(filters(), max_size=3), max_size=4),
    event_type=st.lists(SEGMENT, min_size=1, max_size=5).map(".".join),
)
def test_the_queue_gets_every_type_some_endpoint_wants(
    endpoints: list[list[str]], event_type: str
) -> None:
    if any(matches(endpoint, event_type) for endpoint in endpoints):
        patterns = binding_patterns(endpoints)
        assert any(amqp_topic_matches(p, event_type) for p in patterns)


def test_bindings_are_the_union_of_the_endpoints_patterns() -> None:
    assert binding_patterns(
        [["order.accepted", "order.*.created"], ["order.accepted"], ["market.quote.*"]]
    ) == {"order.accepted", "order.*.created", "market.quote.#"}


def test_no_endpoint_needs_no_binding() -> None:
    assert binding_patterns([]) == frozenset()


def test_an_endpoint_without_filters_needs_every_event() -> None:
    assert binding_patterns([["order.accepted"], []]) == {"#"}


def test_every_type_makes_other_bindings_pointless() -> None:
    assert binding_patterns([["order.*", "*"], ["market.quote.*"]]) == {"#"}


# --- the changes that reach the required bindings ---


def test_binds_what_is_missing_and_unbinds_what_is_no_longer_needed() -> None:
    changes = binding_changes(
        required=frozenset({"order.#", "market.quote.#"}),
        recorded=frozenset({"order.#", "fill.#"}),
        bound_here=frozenset(),
        rebind_all=False,
    )
    assert changes == BindingChanges(
        bind=frozenset({"market.quote.#"}), unbind=frozenset({"fill.#"})
    )


def test_nothing_changes_when_the_record_is_what_is_required() -> None:
    changes = binding_changes(
        required=frozenset({"order.#"}),
        recorded=frozenset({"order.#"}),
        bound_here=frozenset({"order.#"}),
        rebind_all=False,
    )
    assert changes == BindingChanges(bind=frozenset(), unbind=frozenset())


def test_rebinding_binds_every_required_pattern_again() -> None:
    changes = binding_changes(
        required=frozenset({"order.#", "market.quote.#"}),
        recorded=frozenset({"order.#", "market.quote.#"}),
        bound_here=frozenset(),
        rebind_all=True,
    )
    assert changes.bind == {"order.#", "market.quote.#"}
    assert changes.unbind == frozenset()


def test_a_binding_this_process_would_restore_after_another_removed_it_is_unbound() -> None:
    # Another process unbound "fill.#" (it is no longer recorded); this process's broker client
    # still remembers binding it and re-applies it after a reconnect.
    changes = binding_changes(
        required=frozenset({"order.#"}),
        recorded=frozenset({"order.#"}),
        bound_here=frozenset({"order.#", "fill.#"}),
        rebind_all=False,
    )
    assert changes.unbind == {"fill.#"}
    assert changes.bind == frozenset()
