"""The query strings the gateway sends the services it reads from."""

from __future__ import annotations

from datetime import UTC, datetime

from tradewind.gateway.adapters.reads import ActivityQuery, BarQuery, OrderQuery
from tradewind.gateway.adapters.upstream import query_params

_NOON = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)


def test_an_order_query_sends_only_what_is_set_and_times_in_iso_8601() -> None:
    assert OrderQuery().params() == {"status": "all", "limit": "50"}
    assert OrderQuery(symbol="", page_token="").params() == {"status": "all", "limit": "50"}
    assert OrderQuery(
        status="open", symbol="AAPL", limit=5, page_token="t", updated_since=_NOON
    ).params() == {
        "status": "open",
        "limit": "5",
        "symbol": "AAPL",
        "page_token": "t",
        "updated_since": "2026-01-02T12:00:00+00:00",
    }


def test_an_activity_query_sends_only_what_is_set() -> None:
    assert ActivityQuery().params() == {"limit": "100"}
    assert ActivityQuery(
        activity_types="FILL", after=_NOON, until=_NOON, limit=3, page_token="t"
    ).params() == {
        "limit": "3",
        "activity_types": "FILL",
        "after": "2026-01-02T12:00:00+00:00",
        "until": "2026-01-02T12:00:00+00:00",
        "page_token": "t",
    }


def test_a_bar_query_sends_its_timeframe_and_only_the_bounds_that_are_set() -> None:
    assert BarQuery("AAPL").params() == {"timeframe": "1Min", "limit": "1000"}
    assert BarQuery("AAPL", "1Day", start=_NOON, limit=2, page_token="t").params() == {
        "timeframe": "1Day",
        "limit": "2",
        "start": "2026-01-02T12:00:00+00:00",
        "page_token": "t",
    }


def test_query_params_write_booleans_and_numbers_as_the_services_read_them() -> None:
    assert query_params(limit=50, succeeded=False, before=None, message_id="m1") == {
        "limit": "50",
        "succeeded": "false",
        "message_id": "m1",
    }
    assert query_params(succeeded=True) == {"succeeded": "true"}
