"""Relay cursors over a service's page tokens (``domain/connections.py``): following endCursor
visits every item once, in order; ``after`` any edge continues right after it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradewind.gateway.domain.connections import (
    EdgeCursor,
    InvalidCursor,
    PageRequest,
    Window,
    page_request,
    window,
)


class Service:
    """A service paging ``items`` as ours do: the token names the last item of the page."""

    def __init__(self, items: list[int], max_page: int = 500) -> None:
        self.items = items
        self.max_page = max_page
        self.calls: list[tuple[str | None, int]] = []

    def page(self, token: str | None, limit: int) -> tuple[list[int], str | None]:
        assert limit <= self.max_page
        self.calls.append((token, limit))
        start = 0 if token is None else int(token.removeprefix("after-")) + 1
        chunk = self.items[start : start + limit]
        more = start + limit < len(self.items)
        return chunk, f"after-{start + limit - 1}" if more else None

    def read(self, first: int, after: str | None) -> Window[int]:
        request = page_request(first, after, service_max=self.max_page)
        items, token = self.page(request.page_token, request.limit)
        return window(request, items, token)


@given(total=st.integers(0, 40), first=st.integers(1, 12))
def test_following_end_cursors_visits_every_item_once_in_order(total: int, first: int) -> None:
    service = Service(list(range(total)))
    seen: list[int] = []
    after = None
    while True:
        page = service.read(first, after)
        seen += [item for _, item in page.edges]
        assert len(page.edges) <= first
        if not page.has_next_page:
            break
        after = page.end_cursor
    assert seen == list(range(total))
    # Every page after the first is one call of exactly `first` items.
    assert all(limit == first for _, limit in service.calls)


@given(total=st.integers(1, 30), first=st.integers(1, 10), data=st.data())
def test_after_any_edge_comes_the_item_after_it(
    total: int, first: int, data: st.DataObject
) -> None:
    service = Service(list(range(total)))
    page = service.read(first, None)
    index = data.draw(st.integers(0, len(page.edges) - 1))
    cursor, item = page.edges[index]
    following = service.read(first, cursor)
    expected = list(range(item + 1, min(total, item + 1 + first)))
    assert [node for _, node in following.edges] == expected
    assert following.has_next_page == (item + first < total - 1)


def test_the_last_edge_of_a_page_with_more_points_at_the_next_page() -> None:
    request = PageRequest("tok", limit=3, skip=1)
    page = window(request, ["a", "b", "c"], next_token="next")
    assert [EdgeCursor.decode(cursor) for cursor, _ in page.edges] == [
        EdgeCursor("tok", 2),
        EdgeCursor("next", 0),
    ]
    assert page.has_next_page
    assert page.start_cursor == page.edges[0][0]
    assert page.end_cursor == page.edges[1][0]


def test_an_empty_page_has_no_cursors() -> None:
    page: Window[str] = window(PageRequest(None, 5, 0), [], None)
    assert (page.edges, page.has_next_page, page.start_cursor, page.end_cursor) == (
        [],
        False,
        None,
        None,
    )


@pytest.mark.parametrize("forged", ["", "not-a-cursor", "WzFd", EdgeCursor("t", 1).encode()[:-2]])
def test_a_cursor_this_api_did_not_issue_is_refused(forged: str) -> None:
    with pytest.raises(InvalidCursor):
        page_request(10, forged, service_max=500)


def test_a_cursor_too_far_into_its_page_is_refused() -> None:
    far = EdgeCursor("tok", 495).encode()
    assert page_request(5, far, service_max=500) == PageRequest("tok", 500, 495)
    with pytest.raises(InvalidCursor, match="endCursor"):
        page_request(6, far, service_max=500)
