"""Circuit breaker states read from a service's /metrics (Prometheus text format)."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Gauge, generate_latest

from tradewind.health.domain.service_metrics import parse_breaker_states

REAL_PAGE = """\
# HELP tradewind_http_requests_total HTTP requests served.
# TYPE tradewind_http_requests_total counter
tradewind_http_requests_total{method="GET",route="/health/ready",status="200"} 12.0
# HELP tradewind_circuit_breaker_state Circuit breaker state: 0 = closed, 1 = half_open, 2 = open.
# TYPE tradewind_circuit_breaker_state gauge
tradewind_circuit_breaker_state{breaker="orders"} 0.0
tradewind_circuit_breaker_state{breaker="market_data"} 2.0
tradewind_circuit_breaker_state{breaker="webhooks"} 1.0
# HELP tradewind_circuit_breaker_state_changes_total Not the gauge, despite the prefix.
# TYPE tradewind_circuit_breaker_state_changes_total counter
tradewind_circuit_breaker_state_changes_total{breaker="orders"} 7.0
"""


def test_states_are_named_by_the_gauge_value() -> None:
    assert parse_breaker_states(REAL_PAGE) == {
        "market_data": "open",
        "orders": "closed",
        "webhooks": "half_open",
    }


def test_what_prometheus_client_itself_writes_is_understood() -> None:
    registry = CollectorRegistry()
    gauge = Gauge("tradewind_circuit_breaker_state", "state", ["breaker"], registry=registry)
    gauge.labels(breaker='odd "name"\\with\nescapes').set(2)
    text = generate_latest(registry).decode()
    assert parse_breaker_states(text) == {'odd "name"\\with\nescapes': "open"}


def test_a_page_without_breakers_has_none() -> None:
    assert parse_breaker_states("# TYPE up gauge\nup 1.0\n") == {}
    assert parse_breaker_states("") == {}


def test_an_unexpected_value_is_unknown_and_a_sample_without_a_name_is_ignored() -> None:
    text = (
        'tradewind_circuit_breaker_state{breaker="orders"} 7.0\n'
        "tradewind_circuit_breaker_state 0.0\n"
    )
    assert parse_breaker_states(text) == {"orders": "unknown"}


def test_malformed_lines_of_other_metrics_do_not_hide_the_breakers() -> None:
    text = "this is { not prometheus\n" + REAL_PAGE + "other_metric{broken 1\n"
    assert parse_breaker_states(text)["orders"] == "closed"


def test_a_malformed_breaker_line_is_an_error() -> None:
    with pytest.raises(ValueError, match=r".+"):
        parse_breaker_states('tradewind_circuit_breaker_state{breaker="orders" 1\n')
