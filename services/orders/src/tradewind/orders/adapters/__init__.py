"""Persistence of the orders service: the unit of work of every write path, the reads of the API,
and the schema as code. Plain asyncpg; SQLAlchemy only declares the tables for Alembic."""

from tradewind.orders.adapters.reads import (
    OrderPage,
    OrderReads,
    PageCursor,
    StatusFilter,
)
from tradewind.orders.adapters.unit_of_work import OrdersUnitOfWork, PositionKey, StaleOrder

__all__ = [
    "OrderPage",
    "OrderReads",
    "OrdersUnitOfWork",
    "PageCursor",
    "PositionKey",
    "StaleOrder",
    "StatusFilter",
]
