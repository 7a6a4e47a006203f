"""An account's fills as activities, a keyset page at a time: the activities API reads them
newest first, a statement job oldest first, both through ``ix_executions_account_executed``.

Executions do not store the order's cumulative quantity at each fill; a correlated sum over the
order's executions up to that one (by quote sequence, the order in which an order's fills
happen: one symbol, sequences increasing) computes it through ``ix_executions_order``. An order
has a handful of executions, so each row of a page costs one short index scan, and the page is
bounded by its limit: no column to keep in step on the hot write path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import asyncpg

from tradewind.common.contracts.types import Side
from tradewind.common.statement_args import StatementArgs
from tradewind.orders.adapters.keyset import KeysetCursor
from tradewind.orders.domain.activities import FillActivity, FillRecord, fill_activity

ActivityCursor = KeysetCursor
"""Where the previous page of activities ended: the last one's (transaction time, id)."""


@dataclass(frozen=True)
class ActivityPage:
    activities: Sequence[FillActivity]
    next_cursor: ActivityCursor | None


Direction = Literal["newest_first", "oldest_first"]


class FillActivities:
    """Reads on the pool it is given (the API's, or the job worker's)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def page(
        self,
        account_id: str,
        *,
        limit: int,
        cursor: ActivityCursor | None = None,
        after: datetime | None = None,
        until: datetime | None = None,
        direction: Direction = "newest_first",
    ) -> ActivityPage:
        """Up to ``limit`` fills with ``after`` <= transaction_time < ``until``, continuing
        after ``cursor``; the next cursor when more follow."""
        conditions = ["e.account_id = $1"]
        arg = StatementArgs(account_id)
        if after is not None:
            conditions.append(f"e.executed_at >= {arg(after)}")
        if until is not None:
            conditions.append(f"e.executed_at < {arg(until)}")
        newest_first = direction == "newest_first"
        if cursor is not None:
            comparison = "<" if newest_first else ">"
            conditions.append(cursor.condition("(e.executed_at, e.id)", comparison, arg))
        order = "DESC" if newest_first else "ASC"
        # One more row than asked tells whether another page exists.
        statement = f"""
            SELECT e.id, e.order_id, e.symbol, e.side, e.qty, e.price, e.executed_at,
                   o.qty AS order_qty,
                   (SELECT sum(x.qty) FROM executions x
                     WHERE x.order_id = e.order_id AND x.quote_sequence <= e.quote_sequence
                   ) AS cum_qty
              FROM executions e JOIN orders o ON o.id = e.order_id
             WHERE {" AND ".join(conditions)}
             ORDER BY e.executed_at {order}, e.id {order}
             LIMIT {arg(limit + 1)}
        """
        async with self.pool.acquire() as connection:
            rows = await connection.fetch(statement, *arg.values)
        activities = [fill_activity(_record(row)) for row in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = activities[-1]
            next_cursor = ActivityCursor(last.transaction_time, last.id)
        return ActivityPage(activities, next_cursor)

    async def count(self, account_id: str, *, after: datetime, until: datetime) -> int:
        """How many fills a window holds (a statement's progress is measured against it)."""
        async with self.pool.acquire() as connection:
            count: int = await connection.fetchval(
                "SELECT count(*) FROM executions "
                "WHERE account_id = $1 AND executed_at >= $2 AND executed_at < $3",
                account_id,
                after,
                until,
            )
        return count


def _record(row: asyncpg.Record) -> FillRecord:
    return FillRecord(
        execution_id=row["id"],
        order_id=row["order_id"],
        symbol=row["symbol"],
        side=Side(row["side"]),
        qty=row["qty"],
        price=row["price"],
        executed_at=row["executed_at"],
        order_qty=row["order_qty"],
        cum_qty=row["cum_qty"],
    )
