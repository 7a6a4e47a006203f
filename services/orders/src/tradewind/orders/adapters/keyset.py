"""The page token of the orders service's keyset reads: where the previous page ended.

Orders page by (created_at, id), fills by (executed_at, id), cash movements by (created_at, id):
each sort key is a time and an id that breaks ties, so one cursor and one token format serve all
three.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from tradewind.common.paging import decode_page_token, encode_page_token, utc_instant
from tradewind.common.statement_args import StatementArgs


@dataclass(frozen=True)
class KeysetCursor:
    """The last row's sort key: when the row was made (an order's ``created_at``, a fill's
    ``executed_at``, a cash movement's ``created_at``), then its id."""

    created_at: datetime
    row_id: UUID

    def encode(self) -> str:
        return encode_page_token([self.created_at.isoformat(), str(self.row_id)])

    @classmethod
    def decode(cls, token: str) -> KeysetCursor:
        def build(fields: list[Any]) -> KeysetCursor:
            created_at, row_id = fields
            return cls(utc_instant(created_at), UUID(row_id))

        return decode_page_token(token, build)

    def condition(self, key: str, comparison: str, args: StatementArgs) -> str:
        """The rows past this cursor; ``key`` names the sort columns, ``comparison`` is ``<``
        newest first and ``>`` oldest first."""
        return (
            f"{key} {comparison} ({args(self.created_at)}::timestamptz, {args(self.row_id)}::uuid)"
        )
