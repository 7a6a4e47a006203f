"""A forged page token is a 400 problem, never a time that overflows in the database driver."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from tradewind.common.http_paging import page_cursor
from tradewind.common.paging import InvalidPageToken
from tradewind.common.problems import Problem
from tradewind.market_data.adapters.store import BarCursor
from tradewind.orders.adapters import PageCursor


def _token(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "payload",
    [
        ["9999-12-31T23:59:59-23:59", str(uuid.uuid4())],
        ["0001-01-01T00:00:00+23:59", str(uuid.uuid4())],
        ["2026-01-01T00:00:00", str(uuid.uuid4())],
        ["2026-01-01T00:00:00+00:00", "not-a-uuid"],
        [1, 2],
        {"a": 1},
        "x",
    ],
)
def test_forged_order_cursors_are_invalid_page_tokens(payload: object) -> None:
    with pytest.raises(InvalidPageToken):
        PageCursor.decode(_token(payload))


@pytest.mark.parametrize(
    "payload",
    [
        ["AAPL", "1Min", "9999-12-31T23:59:59-23:59"],
        ["AAPL", "1Min", "2026-01-01T00:00:00"],
        ["AAPL", "1Century", "2026-01-01T00:00:00+00:00"],
        {"symbol": "AAPL"},
    ],
)
def test_forged_bar_cursors_are_invalid_page_tokens(payload: object) -> None:
    with pytest.raises(InvalidPageToken):
        BarCursor.decode(_token(payload))


def test_a_cursor_round_trips_to_the_same_instant_in_utc() -> None:
    created_at = datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=2)))
    cursor = PageCursor(created_at, uuid.uuid4())
    decoded = PageCursor.decode(cursor.encode())
    assert decoded == cursor
    assert decoded.created_at.tzinfo == UTC


def test_the_http_edge_reads_no_token_as_the_first_page_and_a_forged_one_as_a_400() -> None:
    assert page_cursor(None, PageCursor.decode) is None
    cursor = PageCursor(datetime(2026, 1, 1, tzinfo=UTC), uuid.uuid4())
    assert page_cursor(cursor.encode(), PageCursor.decode) == cursor
    with pytest.raises(Problem) as refused:
        page_cursor(_token({"a": 1}), PageCursor.decode)
    assert refused.value.status == 400
    assert refused.value.kind == "invalid-page-token"
