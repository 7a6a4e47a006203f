"""The account ledger's own statements: what the account route reads, and the operator's
deposits and withdrawals (each one short transaction on the ledger row).

The write paths move cash and held value through the unit of work (``unit_of_work``); here a
cash movement takes the account's ledger row alone, the last lock of every path, so it can wait
on no one that waits on it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import asyncpg

from tradewind.common.statement_args import StatementArgs
from tradewind.orders.adapters.activities import ActivityCursor
from tradewind.orders.adapters.rows import position_from_row
from tradewind.orders.domain.activities import ActivityType, CashActivity
from tradewind.orders.domain.ledger import (
    CashMovement,
    CashMovementRefused,
    CashMovementType,
    Ledger,
    Mark,
    move_cash,
)
from tradewind.orders.domain.positions import Position


@dataclass(frozen=True)
class AccountState:
    """What the account route values: the ledger, positions with their symbols' latest quotes,
    and whether trading is blocked, read in one snapshot."""

    ledger: Ledger
    positions: list[Position]
    marks: dict[str, Mark]
    trading_blocked: bool


class CashMovementConflict(Exception):
    """The movement's id names a movement of another account."""


@dataclass(frozen=True)
class Recorded:
    movement: CashMovement
    ledger: Ledger
    repeated: bool
    """The id was recorded before: nothing was applied now."""


class AccountLedgers:
    def __init__(self, pool: asyncpg.Pool, *, initial_cash: Decimal) -> None:
        self.pool = pool
        self.initial_cash = initial_cash

    async def state(self, account_id: str) -> AccountState:
        """The account as committed; an account never seen has the initial cash."""
        async with (
            self.pool.acquire() as connection,
            connection.transaction(isolation="repeatable_read", readonly=True),
        ):
            head = await connection.fetchrow(_ACCOUNT, account_id)
            rows = await connection.fetch(_POSITIONS_WITH_QUOTES, account_id)
        assert head is not None
        ledger = Ledger(
            account_id,
            self.initial_cash if head["cash"] is None else head["cash"],
            head["held_for_orders"] or Decimal(0),
        )
        return AccountState(
            ledger=ledger,
            positions=[position_from_row(row) for row in rows],
            marks={row["symbol"]: Mark(row["bid_price"], row["ask_price"]) for row in rows},
            trading_blocked=head["blocked"],
        )

    async def record(self, movement: CashMovement) -> Recorded | CashMovementRefused:
        """Apply a deposit or withdrawal once: a movement whose id is recorded already is
        answered as recorded, whatever the request says now."""
        async with self.pool.acquire() as connection, connection.transaction():
            row = await connection.fetchrow(_LOCK_LEDGER, movement.account_id, self.initial_cash)
            ledger = Ledger(movement.account_id, row["cash"], row["held_for_orders"])
            # Under the ledger's lock: a concurrent retry of the same id waits, then finds it.
            existing = await connection.fetchrow(_MOVEMENT, movement.id)
            if existing is not None:
                if existing["account_id"] != movement.account_id:
                    raise CashMovementConflict(str(movement.id))
                return Recorded(_movement_from_row(existing), ledger, repeated=True)
            after = move_cash(ledger, movement)
            if isinstance(after, CashMovementRefused):
                return after
            await connection.execute(
                _RECORD_MOVEMENT,
                movement.id,
                movement.account_id,
                movement.type.value,
                movement.amount,
                movement.description,
                movement.created_at,
                after.cash,
            )
        return Recorded(movement, after, repeated=False)

    async def cash_activities(
        self,
        account_id: str,
        *,
        types: Collection[ActivityType],
        limit: int,
        cursor: ActivityCursor | None = None,
        after: datetime | None = None,
        until: datetime | None = None,
    ) -> tuple[Sequence[CashActivity], bool]:
        """Up to ``limit`` deposits and withdrawals, newest first, after ``cursor``, with
        ``after`` <= time < ``until``; and whether more follow. Keyset (created_at, id) through
        ``ix_cash_movements_account_created``, as fills page through theirs."""
        arg = StatementArgs(account_id, sorted(types))
        conditions = ["account_id = $1", "activity_type = ANY($2::text[])"]
        if after is not None:
            conditions.append(f"created_at >= {arg(after)}")
        if until is not None:
            conditions.append(f"created_at < {arg(until)}")
        if cursor is not None:
            conditions.append(cursor.condition("(created_at, id)", "<", arg))
        statement = f"""
            SELECT * FROM cash_movements WHERE {" AND ".join(conditions)}
            ORDER BY created_at DESC, id DESC LIMIT {arg(limit + 1)}
        """
        async with self.pool.acquire() as connection:
            rows = await connection.fetch(statement, *arg.values)
        activities = [_activity_of(_movement_from_row(row)) for row in rows[:limit]]
        return activities, len(rows) > limit


def _activity_of(movement: CashMovement) -> CashActivity:
    return CashActivity(
        id=movement.id,
        transaction_time=movement.created_at,
        activity_type=ActivityType(movement.type.value),
        net_amount=movement.net_amount,
        description=movement.description,
    )


def _movement_from_row(row: asyncpg.Record) -> CashMovement:
    return CashMovement(
        id=row["id"],
        account_id=row["account_id"],
        type=CashMovementType(row["activity_type"]),
        amount=row["amount"],
        description=row["description"],
        created_at=row["created_at"],
    )


_ACCOUNT = """
    SELECT l.cash, l.held_for_orders,
        EXISTS (SELECT 1 FROM trading_blocks WHERE account_id = $1) AS blocked
    FROM (SELECT 1) AS one
    LEFT JOIN account_ledgers AS l ON l.account_id = $1
"""
_POSITIONS_WITH_QUOTES = """
    SELECT p.*, b.bid_price, b.ask_price
    FROM positions AS p LEFT JOIN symbol_books AS b ON b.symbol = p.symbol
    WHERE p.account_id = $1
    ORDER BY p.symbol
"""
_LOCK_LEDGER = """
    INSERT INTO account_ledgers (account_id, cash, held_for_orders, created_at, updated_at)
    VALUES ($1, $2::numeric, 0, now(), now())
    ON CONFLICT (account_id) DO UPDATE SET account_id = EXCLUDED.account_id
    RETURNING cash, held_for_orders
"""
_MOVEMENT = "SELECT * FROM cash_movements WHERE id = $1"
_RECORD_MOVEMENT = """
    WITH recorded AS (
        INSERT INTO cash_movements (id, account_id, activity_type, amount, description, created_at)
        VALUES ($1, $2, $3, $4, $5, $6)
    )
    UPDATE account_ledgers SET cash = $7::numeric, updated_at = now() WHERE account_id = $2
"""
