"""The orders database: tables, and the queries the handlers and the API run on them."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from sqlalchemy import (
    Column,
    ColumnElement,
    DateTime,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Uuid,
    and_,
    exists,
    insert,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from tradewind.common.contracts.types import (
    TERMINAL_STATUSES,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from tradewind.common.outbox import inbox_table, outbox_table
from tradewind.orders.domain import Order

metadata = MetaData()

orders = Table(
    "orders",
    metadata,
    Column("id", Uuid(as_uuid=True), primary_key=True),
    Column("account_id", String(128), nullable=False),
    Column("client_order_id", String(128)),
    Column("symbol", String(32), nullable=False),
    Column("side", String(16), nullable=False),
    Column("type", String(16), nullable=False),
    # Unconstrained NUMERIC keeps every digit the client sent; asdecimal keeps floats out.
    Column("qty", Numeric(asdecimal=True), nullable=False),
    Column("limit_price", Numeric(asdecimal=True)),
    Column("time_in_force", String(16), nullable=False),
    Column("status", String(32), nullable=False),
    Column("filled_qty", Numeric(asdecimal=True), nullable=False),
    Column("submitted_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("accepted_at", DateTime(timezone=True)),
    Column("rejected_at", DateTime(timezone=True)),
    Column("canceled_at", DateTime(timezone=True)),
    Column("reject_reason", String(64)),
    Column("version", Integer, nullable=False),
    # A rejected order keeps its client_order_id for the record but never blocks its reuse.
    Index(
        "uq_orders_account_client_order_id",
        "account_id",
        "client_order_id",
        unique=True,
        postgresql_where=text("client_order_id IS NOT NULL AND status <> 'rejected'"),
    ),
)
# Serves the listing: an account's orders newest first, (created_at, id) as the keyset.
Index(
    "ix_orders_account_created",
    orders.c.account_id,
    orders.c.created_at.desc(),
    orders.c.id.desc(),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)


class StatusFilter(StrEnum):
    """Which orders a listing shows: one status, or a group of them.

    One enum (rather than a union with OrderStatus) gives the API one clear error and one enum in
    its schema; it lists every OrderStatus, which a test checks.
    """

    OPEN = "open"
    CLOSED = "closed"
    ALL = "all"
    PENDING_NEW = "pending_new"
    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    EXPIRED = "expired"
    REJECTED = "rejected"
    REPLACED = "replaced"


class InvalidPageToken(ValueError):
    """The page token was not issued by us (or was altered)."""


@dataclass(frozen=True)
class PageCursor:
    """Where the previous page ended: the last row's sort key (created_at, id)."""

    created_at: datetime
    order_id: UUID

    def encode(self) -> str:
        raw = json.dumps([self.created_at.isoformat(), str(self.order_id)]).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> PageCursor:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            created_at, order_id = json.loads(raw)
            cursor = cls(datetime.fromisoformat(created_at), UUID(order_id))
        except (binascii.Error, ValueError, TypeError) as exc:
            raise InvalidPageToken("page_token is not a token this API issued") from exc
        if cursor.created_at.tzinfo is None:
            raise InvalidPageToken("page_token is not a token this API issued")
        return cursor


@dataclass(frozen=True)
class OrderPage:
    orders: Sequence[Order]
    next_cursor: PageCursor | None


class StaleOrder(RuntimeError):
    """The order changed since it was read; the change was not written."""


class OrderStore:
    """Order queries inside the caller's session; the caller owns the transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(
        self, account_id: str, order_id: UUID, *, for_update: bool = False
    ) -> Order | None:
        query = select(orders).where(orders.c.id == order_id, orders.c.account_id == account_id)
        if for_update:
            query = query.with_for_update()
        row = (await self.session.execute(query)).first()
        return None if row is None else _order_from_row(row._mapping)

    async def exists(self, order_id: UUID) -> bool:
        query = select(exists().where(orders.c.id == order_id))
        return bool(await self.session.scalar(query))

    async def client_order_id_in_use(self, account_id: str, client_order_id: str) -> bool:
        query = select(
            exists().where(
                orders.c.account_id == account_id,
                orders.c.client_order_id == client_order_id,
                orders.c.status != OrderStatus.REJECTED.value,
            )
        )
        return bool(await self.session.scalar(query))

    async def insert(self, order: Order) -> None:
        await self.session.execute(insert(orders).values(_order_values(order)))

    async def update(self, order: Order) -> None:
        """Write ``order``, which must be the next version of the stored one."""
        result = await self.session.execute(
            update(orders)
            .where(orders.c.id == order.id, orders.c.version == order.version - 1)
            .values(_order_values(order))
            .returning(orders.c.id)
        )
        if result.first() is None:
            raise StaleOrder(f"order {order.id} is not at version {order.version - 1}")

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
        conditions: list[ColumnElement[bool]] = [orders.c.account_id == account_id]
        status_condition = _status_condition(status_filter)
        if status_condition is not None:
            conditions.append(status_condition)
        if symbol is not None:
            conditions.append(orders.c.symbol == symbol)
        if updated_since is not None:
            conditions.append(orders.c.updated_at >= updated_since)
        if cursor is not None:
            conditions.append(
                tuple_(orders.c.created_at, orders.c.id)
                < tuple_(cursor.created_at, cursor.order_id)
            )
        query = (
            select(orders)
            .where(and_(*conditions))
            .order_by(orders.c.created_at.desc(), orders.c.id.desc())
            .limit(limit + 1)  # one more than asked tells whether another page exists
        )
        rows = (await self.session.execute(query)).all()
        page = [_order_from_row(row._mapping) for row in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = page[-1]
            next_cursor = PageCursor(last.created_at, last.id)
        return OrderPage(page, next_cursor)


def _status_condition(status_filter: StatusFilter) -> ColumnElement[bool] | None:
    terminal = sorted(status.value for status in TERMINAL_STATUSES)
    if status_filter is StatusFilter.ALL:
        return None
    if status_filter is StatusFilter.OPEN:
        return orders.c.status.not_in(terminal)
    if status_filter is StatusFilter.CLOSED:
        return orders.c.status.in_(terminal)
    return orders.c.status == status_filter.value


def _order_values(order: Order) -> dict[str, Any]:
    return {
        "id": order.id,
        "account_id": order.account_id,
        "client_order_id": order.client_order_id,
        "symbol": order.symbol,
        "side": order.side.value,
        "type": order.type.value,
        "qty": order.qty,
        "limit_price": order.limit_price,
        "time_in_force": order.time_in_force.value,
        "status": order.status.value,
        "filled_qty": order.filled_qty,
        "submitted_at": order.submitted_at,
        "created_at": order.created_at,
        "updated_at": order.updated_at,
        "accepted_at": order.accepted_at,
        "rejected_at": order.rejected_at,
        "canceled_at": order.canceled_at,
        "reject_reason": order.reject_reason,
        "version": order.version,
    }


def _order_from_row(row: RowMapping) -> Order:
    return Order(
        id=row["id"],
        account_id=row["account_id"],
        client_order_id=row["client_order_id"],
        symbol=row["symbol"],
        side=Side(row["side"]),
        type=OrderType(row["type"]),
        qty=row["qty"],
        limit_price=row["limit_price"],
        time_in_force=TimeInForce(row["time_in_force"]),
        status=OrderStatus(row["status"]),
        filled_qty=row["filled_qty"],
        submitted_at=row["submitted_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        accepted_at=row["accepted_at"],
        rejected_at=row["rejected_at"],
        canceled_at=row["canceled_at"],
        reject_reason=row["reject_reason"],
        version=row["version"],
    )
