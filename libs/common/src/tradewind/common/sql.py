"""A service's own PostgreSQL through SQLAlchemy: the engine, its sessions, its readiness check
and its spans (part of the ``db`` extra; plain asyncpg pools are in ``tradewind.common.db``)."""

from __future__ import annotations

from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from sqlalchemy import text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def create_engine(url: str, *, pool_size: int = 20) -> AsyncEngine:
    return create_async_engine(
        url, pool_size=pool_size, max_overflow=10, pool_pre_ping=True, pool_recycle=1800
    )


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def check_database(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


def instrument_engine(engine: AsyncEngine) -> None:
    """A span per statement, when spans are recorded (``tradewind.common.tracing``)."""
    SQLAlchemyInstrumentor().instrument(engine=engine.sync_engine)
