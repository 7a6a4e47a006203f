"""What the internal read API asks of the orders database: plain reads, no locks, own pool.

Reads run on a pool of their own, so a write path busy at full load never makes a client (or the
readiness probe) wait for a connection.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

import asyncpg

from tradewind.common.contracts import Instrument, TradingBlockedBy
from tradewind.common.contracts.types import TERMINAL_STATUSES
from tradewind.common.statement_args import StatementArgs
from tradewind.orders.adapters.keyset import KeysetCursor
from tradewind.orders.adapters.rows import (
    execution_from_row,
    instrument_from_row,
    order_from_row,
    position_from_row,
)
from tradewind.orders.domain import Execution, Order, Position, TradingBlock, order_classes


class StatusFilter(StrEnum):
    """Which orders a listing shows: one status, or a group of them.

    One enum (rather than a union with OrderStatus) gives the API one clear error and one enum in
    its schema; it lists every OrderStatus, which a test checks.
    """

    OPEN = "open"
    CLOSED = "closed"
    ALL = "all"
    PENDING_NEW = "pending_new"
    HELD = "held"
    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    EXPIRED = "expired"
    REJECTED = "rejected"
    REPLACED = "replaced"


PageCursor = KeysetCursor
"""Where the previous page of orders ended: the last one's (created_at, id)."""


@dataclass(frozen=True)
class OrderPage:
    orders: Sequence[Order]
    next_cursor: PageCursor | None


_TERMINAL = sorted(status.value for status in TERMINAL_STATUSES)


class OrderReads:
    """Orders, positions and instruments as committed; every method is one statement."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def order(self, account_id: str, order_id: UUID) -> Order | None:
        row = await self._fetchrow(
            "SELECT * FROM orders WHERE id = $1 AND account_id = $2", order_id, account_id
        )
        return None if row is None else order_from_row(row)

    async def list_orders(
        self,
        account_id: str,
        *,
        status_filter: StatusFilter = StatusFilter.ALL,
        symbol: str | None = None,
        limit: int = 50,
        cursor: PageCursor | None = None,
        updated_since: datetime | None = None,
    ) -> OrderPage:
        """A page of the account's orders, newest first; ``cursor`` continues a previous page."""
        conditions = ["account_id = $1"]
        arg = StatementArgs(account_id)
        if status_filter is StatusFilter.OPEN:
            conditions.append(f"status <> ALL({arg(_TERMINAL)}::text[])")
        elif status_filter is StatusFilter.CLOSED:
            conditions.append(f"status = ANY({arg(_TERMINAL)}::text[])")
        elif status_filter is not StatusFilter.ALL:
            conditions.append(f"status = {arg(status_filter.value)}")
        if symbol is not None:
            conditions.append(f"symbol = {arg(symbol)}")
        if updated_since is not None:
            conditions.append(f"updated_at >= {arg(updated_since)}")
        if cursor is not None:
            conditions.append(cursor.condition("(created_at, id)", "<", arg))
        # One more row than asked tells whether another page exists.
        statement = (
            f"SELECT * FROM orders WHERE {' AND '.join(conditions)} "
            f"ORDER BY created_at DESC, id DESC LIMIT {arg(limit + 1)}"
        )
        rows = await self._fetch(statement, *arg.values)
        page = [order_from_row(row) for row in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = page[-1]
            next_cursor = PageCursor(last.created_at, last.id)
        return OrderPage(page, next_cursor)

    async def legs_of(self, account_id: str, parents: Sequence[Order]) -> dict[UUID, list[Order]]:
        """The legs of those ``parents`` that have some (bracket, oco, oto), by parent id, in
        role order (take-profit first); one statement through ix_orders_parent."""
        parent_ids = [order.id for order in parents if order_classes.group_key(order) == order.id]
        if not parent_ids:
            return {}
        rows = await self._fetch(
            "SELECT * FROM orders WHERE parent_id = ANY($1::uuid[]) AND account_id = $2",
            parent_ids,
            account_id,
        )
        groups = order_classes.groups_of([*parents, *map(order_from_row, rows)])
        return {parent_id: list(group.legs) for parent_id, group in groups.items()}

    async def position(self, account_id: str, symbol: str) -> Position | None:
        row = await self._fetchrow(
            "SELECT * FROM positions WHERE account_id = $1 AND symbol = $2", account_id, symbol
        )
        return None if row is None else position_from_row(row)

    async def account_positions(self, account_id: str, *, include_flat: bool) -> list[Position]:
        """The account's positions by symbol; flat ones (qty 0) only if asked for."""
        flat = "" if include_flat else " AND qty <> 0"
        rows = await self._fetch(
            f"SELECT * FROM positions WHERE account_id = $1{flat} ORDER BY symbol", account_id
        )
        return [position_from_row(row) for row in rows]

    async def trading_block(self, account_id: str) -> TradingBlock | None:
        row = await self._fetchrow("SELECT * FROM trading_blocks WHERE account_id = $1", account_id)
        if row is None:
            return None
        return TradingBlock(
            account_id, row["reason"], TradingBlockedBy(row["blocked_by"]), row["blocked_at"]
        )

    async def order_executions(self, order_id: UUID) -> list[Execution]:
        rows = await self._fetch(
            "SELECT * FROM executions WHERE order_id = $1 ORDER BY quote_sequence", order_id
        )
        return [execution_from_row(row) for row in rows]

    async def instrument(self, symbol: str) -> Instrument | None:
        row = await self._fetchrow("SELECT * FROM instruments WHERE symbol = $1", symbol)
        return None if row is None else instrument_from_row(row)

    async def listed_instruments(self) -> list[Instrument]:
        rows = await self._fetch("SELECT * FROM instruments ORDER BY symbol")
        return [instrument_from_row(row) for row in rows]

    async def _fetch(self, statement: str, *args: Any) -> list[asyncpg.Record]:
        async with self.pool.acquire() as connection:
            rows: list[asyncpg.Record] = await connection.fetch(statement, *args)
        return rows

    async def _fetchrow(self, statement: str, *args: Any) -> asyncpg.Record | None:
        async with self.pool.acquire() as connection:
            row: asyncpg.Record | None = await connection.fetchrow(statement, *args)
        return row
