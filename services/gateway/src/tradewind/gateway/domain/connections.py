"""Relay cursor connections over the services' page tokens.

The services page forward with an opaque token naming where the previous page ended, and give
one token per page, not per item; a Relay connection gives every edge a cursor. An edge's cursor
here is the token of the page the edge was read from and how many items of that page come up to
and including the edge, so ``after`` any edge is: the same page, read ``offset + first`` long,
less its first ``offset`` items. The last edge of a page that has a next one gets the next
page's token with offset 0 instead, so following ``pageInfo.endCursor`` (what clients do) asks
the service for exactly ``first`` items each time. Paging is forward only (``first``/``after``):
the services have no backward page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from tradewind.common.paging import InvalidPageToken, decode_page_token, encode_page_token

Item = TypeVar("Item")


class InvalidCursor(ValueError):
    """A cursor this API did not issue, or one too far from the start of its page."""


@dataclass(frozen=True)
class EdgeCursor:
    page_token: str | None  # the service's token of the page; None for the first page
    offset: int  # items of that page up to and including the edge

    def encode(self) -> str:
        return encode_page_token([self.page_token or "", str(self.offset)])

    @classmethod
    def decode(cls, text: str) -> EdgeCursor:
        def build(fields: list[Any]) -> EdgeCursor:
            token, offset = fields
            if not isinstance(token, str) or not isinstance(offset, str):
                raise TypeError("cursor fields are strings")
            count = int(offset)
            if count < 0:
                raise ValueError("negative offset")
            return cls(token or None, count)

        try:
            return decode_page_token(text, build)
        except InvalidPageToken as exc:
            raise InvalidCursor("`after` is not a cursor this API issued") from exc


@dataclass(frozen=True)
class PageRequest:
    """What to ask the service for: a page from ``page_token``, ``limit`` long, of which the
    first ``skip`` items come before the cursor and are left out."""

    page_token: str | None
    limit: int
    skip: int


def page_request(first: int, after: str | None, *, service_max: int) -> PageRequest:
    """The service page that holds the ``first`` edges after ``after``.

    ``service_max`` is the largest page the service gives; a cursor so far into its page that
    the request would pass it is refused (only reached by chaining cursors of middle edges).
    """
    start = EdgeCursor(None, 0) if after is None else EdgeCursor.decode(after)
    limit = start.offset + first
    if limit > service_max:
        raise InvalidCursor(
            "`after` points too far into its page; continue from pageInfo.endCursor"
        )
    return PageRequest(start.page_token, limit, start.offset)


@dataclass(frozen=True)
class Window(Generic[Item]):
    """The edges of one connection page and whether more follow."""

    edges: list[tuple[str, Item]]  # (cursor, node)
    has_next_page: bool

    @property
    def end_cursor(self) -> str | None:
        return self.edges[-1][0] if self.edges else None

    @property
    def start_cursor(self) -> str | None:
        return self.edges[0][0] if self.edges else None


def window(request: PageRequest, items: Sequence[Item], next_token: str | None) -> Window[Item]:
    """The edges of the service's answer (``items`` and its ``next_token``) to ``request``."""
    kept = list(items[request.skip :])
    cursors = [
        EdgeCursor(request.page_token, request.skip + index + 1) for index in range(len(kept))
    ]
    if cursors and next_token is not None:
        cursors[-1] = EdgeCursor(next_token, 0)
    return Window(
        [(cursor.encode(), item) for cursor, item in zip(cursors, kept, strict=True)],
        has_next_page=next_token is not None,
    )
