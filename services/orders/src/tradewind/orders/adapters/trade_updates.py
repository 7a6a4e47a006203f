"""The trade updates kept per account (``trade_updates``): read after a sequence for a stream
client that reconnects, and pruned to the newest N per account.

A page is read in one REPEATABLE READ transaction: the account's counter, its updates and (when
they no longer reach back to ``after``) its open orders all come from one snapshot. Since a
transaction advances the counter and changes the orders in the same commit, the open orders are
exactly the state at ``last_sequence``: every update after it is newer than them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from tradewind.orders.adapters.rows import order_from_row
from tradewind.orders.adapters.tables import OPEN
from tradewind.orders.domain import Order


@dataclass(frozen=True)
class KeptUpdate:
    sequence: int
    body: bytes
    """The CloudEvent's JSON, as published."""


@dataclass(frozen=True)
class TradeUpdateRead:
    last_sequence: int
    updates: Sequence[KeptUpdate]
    """From after + 1, without gaps (empty if not resumable)."""
    resumable: bool
    has_more: bool
    open_orders: Sequence[Order] | None
    """When not resumable: the open orders at ``last_sequence``, oldest first."""
    open_orders_truncated: bool = False


class TradeUpdates:
    """Reads on the pool it is given (the API's); ``prune`` on the write path's."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def after(
        self, account_id: str, after: int, *, limit: int, max_open_orders: int
    ) -> TradeUpdateRead:
        async with (
            self.pool.acquire() as connection,
            connection.transaction(isolation="repeatable_read", readonly=True),
        ):
            last: int = await connection.fetchval(_LAST, account_id) or 0
            rows = []
            if after < last:
                rows = await connection.fetch(_AFTER, account_id, after, limit + 1)
            kept = [KeptUpdate(row["sequence"], row["body"]) for row in rows[:limit]]
            contiguous = all(update.sequence == after + n for n, update in enumerate(kept, start=1))
            resumable = after <= last and (after == last or (bool(kept) and contiguous))
            if resumable:
                return TradeUpdateRead(last, kept, True, len(rows) > limit, None)
            orders = await connection.fetch(_OPEN_ORDERS, account_id, max_open_orders + 1)
            return TradeUpdateRead(
                last,
                [],
                False,
                False,
                [order_from_row(row) for row in orders[:max_open_orders]],
                len(orders) > max_open_orders,
            )

    async def prune(self, retained: int, changed_since: datetime | None) -> tuple[int, datetime]:
        """Drop all but the newest ``retained`` updates of the accounts whose counter moved
        since ``changed_since`` (None: of every account); returns how many were dropped and the
        database's time before it looked, for the next call's ``changed_since``."""
        async with self.pool.acquire() as connection, connection.transaction():
            started: datetime = await connection.fetchval("SELECT clock_timestamp()")
            status: str = await connection.execute(_PRUNE, retained, changed_since)
        return int(status.rsplit(" ", 1)[-1]), started


_LAST = "SELECT last_sequence FROM account_sequences WHERE account_id = $1"
_AFTER = """
    SELECT sequence, body FROM trade_updates
    WHERE account_id = $1 AND sequence > $2
    ORDER BY sequence
    LIMIT $3
"""
_OPEN_ORDERS = f"""
    SELECT * FROM orders WHERE account_id = $1 AND {OPEN}
    ORDER BY created_at, id
    LIMIT $2
"""
# A counter's updated_at is its transaction's start, which may precede the previous pass's
# start while that transaction commits after it: the caller passes a margin (see handlers).
_PRUNE = """
    DELETE FROM trade_updates AS t
    USING account_sequences AS s
    WHERE t.account_id = s.account_id
        AND t.sequence <= s.last_sequence - $1::bigint
        AND ($2::timestamptz IS NULL OR s.updated_at >= $2::timestamptz)
"""
