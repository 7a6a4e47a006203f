"""Page tokens at the HTTP edge: every API answers a token it did not issue the same way.

Kept apart from ``paging``, which adapters import to build cursors: this module speaks in
problem documents, so it belongs to the API layer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from tradewind.common.paging import InvalidPageToken
from tradewind.common.problems import Problem

Cursor = TypeVar("Cursor")


def invalid_page_token(detail: str) -> Problem:
    """The 400 problem for a page token this API did not issue, or issued for another query."""
    return Problem(400, "Invalid page token", detail, kind="invalid-page-token")


def page_cursor(page_token: str | None, decode: Callable[[str], Cursor]) -> Cursor | None:
    """The cursor ``page_token`` names, None for the first page; a forged token is a 400."""
    if page_token is None:
        return None
    try:
        return decode(page_token)
    except InvalidPageToken as exc:
        raise invalid_page_token(str(exc)) from exc
