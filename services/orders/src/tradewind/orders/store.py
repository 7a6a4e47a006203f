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
    BigInteger,
    Column,
    ColumnElement,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Uuid,
    and_,
    exists,
    func,
    insert,
    literal,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from tradewind.common.contracts import Instrument
from tradewind.common.contracts.types import (
    TERMINAL_STATUSES,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from tradewind.common.outbox import inbox_table, outbox_table
from tradewind.orders.domain import WORKING_STATUSES, Execution, Order, Position, SymbolBook

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
    Column("stop_price", Numeric(asdecimal=True)),
    Column("time_in_force", String(16), nullable=False),
    Column("status", String(32), nullable=False),
    Column("filled_qty", Numeric(asdecimal=True), nullable=False),
    Column("filled_notional", Numeric(asdecimal=True), nullable=False),
    Column("submitted_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("accepted_at", DateTime(timezone=True)),
    Column("rejected_at", DateTime(timezone=True)),
    Column("canceled_at", DateTime(timezone=True)),
    Column("filled_at", DateTime(timezone=True)),
    Column("expired_at", DateTime(timezone=True)),
    Column("replaced_at", DateTime(timezone=True)),
    Column("stop_triggered_at", DateTime(timezone=True)),
    Column("replaces", Uuid(as_uuid=True)),
    Column("replaced_by", Uuid(as_uuid=True)),
    Column("reject_reason", String(64)),
    Column("version", Integer, nullable=False),
    # A rejected order keeps its client_order_id for the record but never blocks its reuse; a
    # replaced one hands it on to its replacement.
    Index(
        "uq_orders_account_client_order_id",
        "account_id",
        "client_order_id",
        unique=True,
        postgresql_where=text(
            "client_order_id IS NOT NULL AND status NOT IN ('rejected', 'replaced')"
        ),
    ),
)
# Serves the listing: an account's orders newest first, (created_at, id) as the keyset.
Index(
    "ix_orders_account_created",
    orders.c.account_id,
    orders.c.created_at.desc(),
    orders.c.id.desc(),
)
_WORKING = "status IN ('new', 'partially_filled')"
# Serves matching: a symbol's working orders in time priority.
Index(
    "ix_orders_working_by_symbol",
    orders.c.symbol,
    orders.c.created_at,
    orders.c.id,
    postgresql_where=text(_WORKING),
)
# Serves the session-end sweep: working day orders by submission time.
Index(
    "ix_orders_working_day_by_submitted",
    orders.c.submitted_at,
    postgresql_where=text(f"time_in_force = 'day' AND {_WORKING}"),
)

instruments = Table(
    "instruments",
    metadata,
    Column("symbol", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("tick_size", Numeric(asdecimal=True), nullable=False),
    Column("lot_size", Numeric(asdecimal=True), nullable=False),
    Column("currency", String(3), nullable=False),
    # Time of the newest instrument.listed applied: an older announcement never overwrites it.
    Column("listed_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# One row per symbol: the last quote processed. Quote processing locks it FOR UPDATE, which
# serialises the quotes of a symbol across processes.
symbol_books = Table(
    "symbol_books",
    metadata,
    Column("symbol", String(32), primary_key=True),
    Column("last_sequence", BigInteger, nullable=False),
    Column("bid_price", Numeric(asdecimal=True)),
    Column("bid_size", Numeric(asdecimal=True)),
    Column("ask_price", Numeric(asdecimal=True)),
    Column("ask_size", Numeric(asdecimal=True)),
    Column("quoted_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

executions = Table(
    "executions",
    metadata,
    # uuid5(order id, quote sequence): a second fill of an order by the same quote cannot insert.
    Column("id", Uuid(as_uuid=True), primary_key=True),
    Column("order_id", Uuid(as_uuid=True), ForeignKey("orders.id"), nullable=False),
    Column("account_id", String(128), nullable=False),
    Column("symbol", String(32), nullable=False),
    Column("side", String(16), nullable=False),
    Column("qty", Numeric(asdecimal=True), nullable=False),
    Column("price", Numeric(asdecimal=True), nullable=False),
    Column("quote_sequence", BigInteger, nullable=False),
    Column("executed_at", DateTime(timezone=True), nullable=False),
    Index("ix_executions_order", "order_id"),
)

positions = Table(
    "positions",
    metadata,
    Column("account_id", String(128), primary_key=True),
    Column("symbol", String(32), primary_key=True),
    Column("qty", Numeric(asdecimal=True), nullable=False),
    Column("cost_basis", Numeric(asdecimal=True), nullable=False),
    Column("realized_pl", Numeric(asdecimal=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
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
        return None if row is None else order_from_row(row._mapping)

    async def exists(self, order_id: UUID) -> bool:
        query = select(exists().where(orders.c.id == order_id))
        return bool(await self.session.scalar(query))

    async def client_order_id_in_use(self, account_id: str, client_order_id: str) -> bool:
        query = select(
            exists().where(
                orders.c.account_id == account_id,
                orders.c.client_order_id == client_order_id,
                orders.c.status.not_in(STATUSES_RELEASING_CLIENT_ORDER_ID),
            )
        )
        return bool(await self.session.scalar(query))

    async def insert(self, order: Order) -> None:
        await self.session.execute(insert(orders).values(order_values(order)))

    async def update(self, order: Order, *, previous_version: int | None = None) -> None:
        """Write ``order`` over the stored one, which must be at ``previous_version``.

        By default that is the version just before ``order``'s: one change at a time.
        """
        expected = order.version - 1 if previous_version is None else previous_version
        result = await self.session.execute(
            update(orders)
            .where(orders.c.id == order.id, orders.c.version == expected)
            .values(order_values(order))
            .returning(orders.c.id)
        )
        if result.first() is None:
            raise StaleOrder(f"order {order.id} is not at version {expected}")

    async def working_orders(self, symbol: str) -> list[Order]:
        """The symbol's working orders in time priority, locked until the transaction ends."""
        query = (
            select(orders)
            .where(orders.c.symbol == symbol, orders.c.status.in_(_WORKING_STATUSES))
            .order_by(orders.c.created_at, orders.c.id)
            .with_for_update()
        )
        return [order_from_row(row._mapping) for row in await self.session.execute(query)]

    async def day_orders_due(self, session_end_at: datetime, limit: int) -> list[Order]:
        """Working day orders submitted before ``session_end_at``, locked; rows another
        transaction holds (being filled, canceled, or swept by another process) are skipped."""
        query = (
            select(orders)
            .where(
                orders.c.time_in_force == TimeInForce.DAY.value,
                orders.c.status.in_(_WORKING_STATUSES),
                orders.c.submitted_at < session_end_at,
            )
            .order_by(orders.c.submitted_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [order_from_row(row._mapping) for row in await self.session.execute(query)]

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
                < tuple_(
                    literal(cursor.created_at, orders.c.created_at.type),
                    literal(cursor.order_id, orders.c.id.type),
                )
            )
        query = (
            select(orders)
            .where(and_(*conditions))
            .order_by(orders.c.created_at.desc(), orders.c.id.desc())
            .limit(limit + 1)  # one more than asked tells whether another page exists
        )
        rows = (await self.session.execute(query)).all()
        page = [order_from_row(row._mapping) for row in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = page[-1]
            next_cursor = PageCursor(last.created_at, last.id)
        return OrderPage(page, next_cursor)


_WORKING_STATUSES = sorted(status.value for status in WORKING_STATUSES)
STATUSES_RELEASING_CLIENT_ORDER_ID = [OrderStatus.REJECTED.value, OrderStatus.REPLACED.value]


def _status_condition(status_filter: StatusFilter) -> ColumnElement[bool] | None:
    terminal = sorted(status.value for status in TERMINAL_STATUSES)
    if status_filter is StatusFilter.ALL:
        return None
    if status_filter is StatusFilter.OPEN:
        return orders.c.status.not_in(terminal)
    if status_filter is StatusFilter.CLOSED:
        return orders.c.status.in_(terminal)
    return orders.c.status == status_filter.value


def order_values(order: Order) -> dict[str, Any]:
    return {
        "id": order.id,
        "account_id": order.account_id,
        "client_order_id": order.client_order_id,
        "symbol": order.symbol,
        "side": order.side.value,
        "type": order.type.value,
        "qty": order.qty,
        "limit_price": order.limit_price,
        "stop_price": order.stop_price,
        "time_in_force": order.time_in_force.value,
        "status": order.status.value,
        "filled_qty": order.filled_qty,
        "filled_notional": order.filled_notional,
        "submitted_at": order.submitted_at,
        "created_at": order.created_at,
        "updated_at": order.updated_at,
        "accepted_at": order.accepted_at,
        "rejected_at": order.rejected_at,
        "canceled_at": order.canceled_at,
        "filled_at": order.filled_at,
        "expired_at": order.expired_at,
        "replaced_at": order.replaced_at,
        "stop_triggered_at": order.stop_triggered_at,
        "replaces": order.replaces,
        "replaced_by": order.replaced_by,
        "reject_reason": order.reject_reason,
        "version": order.version,
    }


def order_from_row(row: RowMapping) -> Order:
    return Order(
        id=row["id"],
        account_id=row["account_id"],
        client_order_id=row["client_order_id"],
        symbol=row["symbol"],
        side=Side(row["side"]),
        type=OrderType(row["type"]),
        qty=row["qty"],
        limit_price=row["limit_price"],
        stop_price=row["stop_price"],
        time_in_force=TimeInForce(row["time_in_force"]),
        status=OrderStatus(row["status"]),
        filled_qty=row["filled_qty"],
        filled_notional=row["filled_notional"],
        submitted_at=row["submitted_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        accepted_at=row["accepted_at"],
        rejected_at=row["rejected_at"],
        canceled_at=row["canceled_at"],
        filled_at=row["filled_at"],
        expired_at=row["expired_at"],
        replaced_at=row["replaced_at"],
        stop_triggered_at=row["stop_triggered_at"],
        replaces=row["replaces"],
        replaced_by=row["replaced_by"],
        reject_reason=row["reject_reason"],
        version=row["version"],
    )


class MarketStore:
    """The service's copy of the market: listed instruments and the last quote per symbol."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record_listing(self, instrument: Instrument, *, listed_at: datetime) -> bool:
        """Insert or update the instrument; False if a newer listing was applied already."""
        values = {
            "symbol": instrument.symbol,
            "name": instrument.name,
            "tick_size": instrument.tick_size,
            "lot_size": instrument.lot_size,
            "currency": instrument.currency,
            "listed_at": listed_at,
            "updated_at": func.now(),
        }
        statement = pg_insert(instruments).values(values)
        upsert = statement.on_conflict_do_update(
            index_elements=[instruments.c.symbol],
            set_={name: statement.excluded[name] for name in values if name != "symbol"},
            where=instruments.c.listed_at <= statement.excluded.listed_at,
        ).returning(instruments.c.symbol)
        return (await self.session.execute(upsert)).first() is not None

    async def instrument(self, symbol: str) -> Instrument | None:
        row = (
            await self.session.execute(select(instruments).where(instruments.c.symbol == symbol))
        ).first()
        return None if row is None else _instrument_from_row(row._mapping)

    async def listed_instruments(self) -> list[Instrument]:
        rows = await self.session.execute(select(instruments).order_by(instruments.c.symbol))
        return [_instrument_from_row(row._mapping) for row in rows]

    async def is_listed(self, symbol: str) -> bool:
        query = select(exists().where(instruments.c.symbol == symbol))
        return bool(await self.session.scalar(query))

    async def book(self, symbol: str) -> SymbolBook:
        """The symbol's book as committed (not locked); empty if no quote was processed."""
        row = (
            await self.session.execute(select(symbol_books).where(symbol_books.c.symbol == symbol))
        ).first()
        return SymbolBook(symbol) if row is None else _book_from_row(row._mapping)

    async def lock_book(self, symbol: str) -> SymbolBook:
        """The symbol's book, locked until the transaction ends (created empty if missing)."""
        await self.session.execute(
            pg_insert(symbol_books)
            .values(symbol=symbol, last_sequence=0, updated_at=func.now())
            .on_conflict_do_nothing()
        )
        row = (
            await self.session.execute(
                select(symbol_books).where(symbol_books.c.symbol == symbol).with_for_update()
            )
        ).one()
        return _book_from_row(row._mapping)

    async def save_book(self, book: SymbolBook) -> None:
        await self.session.execute(
            update(symbol_books)
            .where(symbol_books.c.symbol == book.symbol)
            .values(
                last_sequence=book.last_sequence,
                bid_price=book.bid_price,
                bid_size=book.bid_size,
                ask_price=book.ask_price,
                ask_size=book.ask_size,
                quoted_at=book.quoted_at,
                updated_at=func.now(),
            )
        )


def _instrument_from_row(row: RowMapping) -> Instrument:
    return Instrument(
        symbol=row["symbol"],
        name=row["name"],
        tick_size=row["tick_size"],
        lot_size=row["lot_size"],
        currency=row["currency"],
    )


def _book_from_row(row: RowMapping) -> SymbolBook:
    return SymbolBook(
        symbol=row["symbol"],
        last_sequence=row["last_sequence"],
        bid_price=row["bid_price"],
        bid_size=row["bid_size"],
        ask_price=row["ask_price"],
        ask_size=row["ask_size"],
        quoted_at=row["quoted_at"],
    )


class ExecutionStore:
    """Executions and the positions they build, inside the caller's transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def insert_executions(self, new_executions: Sequence[Execution]) -> None:
        if not new_executions:
            return
        await self.session.execute(
            insert(executions),
            [
                {
                    "id": execution.id,
                    "order_id": execution.order_id,
                    "account_id": execution.account_id,
                    "symbol": execution.symbol,
                    "side": execution.side.value,
                    "qty": execution.qty,
                    "price": execution.price,
                    "quote_sequence": execution.quote_sequence,
                    "executed_at": execution.executed_at,
                }
                for execution in new_executions
            ],
        )

    async def lock_positions(self, account_ids: Sequence[str], symbol: str) -> dict[str, Position]:
        """The accounts' positions in ``symbol`` by account id, locked; missing ones are flat."""
        if not account_ids:
            return {}
        query = (
            select(positions)
            .where(positions.c.symbol == symbol, positions.c.account_id.in_(account_ids))
            .order_by(positions.c.account_id)
            .with_for_update()
        )
        rows = await self.session.execute(query)
        return {row.account_id: _position_from_row(row._mapping) for row in rows}

    async def save_positions(self, changed: Sequence[Position]) -> None:
        for position in changed:
            values = {
                "account_id": position.account_id,
                "symbol": position.symbol,
                "qty": position.qty,
                "cost_basis": position.cost_basis,
                "realized_pl": position.realized_pl,
                "updated_at": position.updated_at,
            }
            statement = pg_insert(positions).values(values)
            await self.session.execute(
                statement.on_conflict_do_update(
                    index_elements=[positions.c.account_id, positions.c.symbol],
                    set_={
                        name: statement.excluded[name]
                        for name in ("qty", "cost_basis", "realized_pl", "updated_at")
                    },
                )
            )

    async def position(self, account_id: str, symbol: str) -> Position | None:
        row = (
            await self.session.execute(
                select(positions).where(
                    positions.c.account_id == account_id, positions.c.symbol == symbol
                )
            )
        ).first()
        return None if row is None else _position_from_row(row._mapping)

    async def account_positions(self, account_id: str, *, include_flat: bool) -> list[Position]:
        """The account's positions by symbol; flat ones (qty 0) only if asked for."""
        query = select(positions).where(positions.c.account_id == account_id)
        if not include_flat:
            query = query.where(positions.c.qty != 0)
        rows = await self.session.execute(query.order_by(positions.c.symbol))
        return [_position_from_row(row._mapping) for row in rows]

    async def order_executions(self, order_id: UUID) -> list[Execution]:
        query = (
            select(executions)
            .where(executions.c.order_id == order_id)
            .order_by(executions.c.quote_sequence)
        )
        return [_execution_from_row(row._mapping) for row in await self.session.execute(query)]


def _position_from_row(row: RowMapping) -> Position:
    return Position(
        account_id=row["account_id"],
        symbol=row["symbol"],
        qty=row["qty"],
        cost_basis=row["cost_basis"],
        realized_pl=row["realized_pl"],
        updated_at=row["updated_at"],
    )


def _execution_from_row(row: RowMapping) -> Execution:
    return Execution(
        id=row["id"],
        order_id=row["order_id"],
        account_id=row["account_id"],
        symbol=row["symbol"],
        side=Side(row["side"]),
        qty=row["qty"],
        price=row["price"],
        quote_sequence=row["quote_sequence"],
        executed_at=row["executed_at"],
    )
