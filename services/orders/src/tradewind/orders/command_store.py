"""The command path's queries on raw asyncpg: few round trips, no ORM/Core overhead (hot path).

They run on the connection under the caller's SQLAlchemy session, in an asyncpg transaction the
caller opens (``CommandStore.transaction``). Place and cancel each take one statement to claim the
inbox and read what the domain needs, and one to write the order, the outbox row and the NOTIFY.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tradewind.common.outbox import NOTIFY_CHANNEL, OutboxMessage
from tradewind.orders import domain
from tradewind.orders.domain import Order
from tradewind.orders.store import (
    STATUSES_RELEASING_CLIENT_ORDER_ID,
    StaleOrder,
    order_from_row,
    order_values,
    orders,
)

_ORDER_COLUMNS: tuple[str, ...] = tuple(column.name for column in orders.columns)
_N = len(_ORDER_COLUMNS)
_RELEASING = ", ".join(f"'{status}'" for status in STATUSES_RELEASING_CLIENT_ORDER_ID)

_CLAIM = (
    "INSERT INTO inbox (consumer, message_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1"
)

# The claim, and (read in the same snapshot) what placing the order needs to know.
_PLACE_READ = f"""
    WITH claim AS ({_CLAIM})
    SELECT
        EXISTS (SELECT 1 FROM claim) AS claimed,
        EXISTS (SELECT 1 FROM orders WHERE id = $3) AS order_exists,
        ($5::text IS NOT NULL AND EXISTS (
            SELECT 1 FROM orders
            WHERE account_id = $4 AND client_order_id = $5 AND status NOT IN ({_RELEASING})
        )) AS client_order_id_in_use,
        EXISTS (SELECT 1 FROM instruments WHERE symbol = $6) AS listed,
        book.bid_price,
        book.ask_price
    FROM (SELECT 1) AS one LEFT JOIN symbol_books AS book ON book.symbol = $6
"""

_OUTBOX_PARAMS = ", ".join(f"${_N + i}" for i in range(1, 6))
_OUTBOX_INSERT = f"""
    INSERT INTO outbox (message_id, message_type, exchange, routing_key, body, headers)
    VALUES ({_OUTBOX_PARAMS}, ${_N + 6}::jsonb)
"""
# Delivered to the relay's LISTEN only when the transaction commits.
_NOTIFY = f"SELECT pg_notify('{NOTIFY_CHANNEL}', '')"

_PLACE_WRITE = f"""
    WITH placed AS (
        INSERT INTO orders ({", ".join(_ORDER_COLUMNS)})
        VALUES ({", ".join(f"${i}" for i in range(1, _N + 1))})
    ), staged AS ({_OUTBOX_INSERT})
    {_NOTIFY}
"""

_LOCK_ORDER = "SELECT * FROM orders WHERE id = $1 AND account_id = $2 FOR UPDATE"

_SETS = ", ".join(
    f"{name} = ${i}" for i, name in enumerate(_ORDER_COLUMNS, start=1) if name != "id"
)
_ID = _ORDER_COLUMNS.index("id") + 1
_UPDATE_WRITE = f"""
    WITH changed AS (
        UPDATE orders SET {_SETS}
        WHERE id = ${_ID} AND version = ${_N + 7}
        RETURNING id
    ), staged AS ({_OUTBOX_INSERT})
    SELECT pg_notify('{NOTIFY_CHANNEL}', ''), EXISTS (SELECT 1 FROM changed) AS changed
"""

_STAGE_WRITE = f"""
    WITH staged AS (
        INSERT INTO outbox (message_id, message_type, exchange, routing_key, body, headers)
        VALUES ($1, $2, $3, $4, $5, $6::jsonb)
    )
    {_NOTIFY}
"""


@dataclass(frozen=True)
class PlaceContext:
    claimed: bool
    order_exists: bool
    client_order_id_in_use: bool
    market: domain.MarketView


class CommandStore:
    """Inbox, order and outbox queries of the command path, on one raw asyncpg connection."""

    def __init__(self, connection: asyncpg.Connection, consumer: str) -> None:
        self.connection = connection
        self.consumer = consumer

    @classmethod
    @asynccontextmanager
    async def transaction(cls, session: AsyncSession, consumer: str) -> AsyncIterator[CommandStore]:
        """A transaction on the session's connection; a constraint violation raises SQLAlchemy's
        IntegrityError, as it did through the ORM (the broker retries the command)."""
        connection = await session.connection()
        raw = await connection.get_raw_connection()
        driver: asyncpg.Connection = raw.driver_connection
        try:
            async with driver.transaction():
                yield cls(driver, consumer)
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise IntegrityError(None, None, exc) from exc

    async def claim(self, message_id: str) -> bool:
        return await self.connection.fetchval(_CLAIM, self.consumer, message_id) is not None

    async def place_context(
        self,
        message_id: str,
        order_id: UUID,
        account_id: str,
        client_order_id: str | None,
        symbol: str,
    ) -> PlaceContext:
        """Claim ``message_id`` and read what placing an order needs, in one round trip."""
        row = await self.connection.fetchrow(
            _PLACE_READ, self.consumer, message_id, order_id, account_id, client_order_id, symbol
        )
        assert row is not None
        return PlaceContext(
            claimed=row["claimed"],
            order_exists=row["order_exists"],
            client_order_id_in_use=row["client_order_id_in_use"],
            market=domain.MarketView(
                listed=row["listed"], bid=row["bid_price"], ask=row["ask_price"]
            ),
        )

    async def insert_and_stage(self, order: Order, event: OutboxMessage) -> None:
        await self.connection.execute(_PLACE_WRITE, *_order_params(order), *event.sql_params())

    async def lock(self, account_id: str, order_id: UUID) -> Order | None:
        row = await self.connection.fetchrow(_LOCK_ORDER, order_id, account_id)
        return None if row is None else order_from_row(row)

    async def update_and_stage(self, order: Order, event: OutboxMessage) -> None:
        """Write ``order`` over the stored one (at the version before it) and stage ``event``."""
        expected = order.version - 1
        changed = await self.connection.fetchval(
            _UPDATE_WRITE, *_order_params(order), *event.sql_params(), expected, column=1
        )
        if not changed:
            raise StaleOrder(f"order {order.id} is not at version {expected}")

    async def stage(self, event: OutboxMessage) -> None:
        await self.connection.execute(_STAGE_WRITE, *event.sql_params())


def _order_params(order: Order) -> Sequence[Any]:
    values = order_values(order)
    return [values[name] for name in _ORDER_COLUMNS]
