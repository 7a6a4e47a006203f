"""A service's own PostgreSQL database: SQLAlchemy engine and sessions, or a plain asyncpg pool."""

from __future__ import annotations

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url
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


def asyncpg_dsn(url: str) -> str:
    """The same database as a plain ``postgresql://`` DSN, for raw asyncpg (LISTEN)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def check_database(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


async def create_pool(url: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """A plain asyncpg pool on ``url`` (a SQLAlchemy URL is accepted), for raw-SQL adapters."""
    pool: asyncpg.Pool = await asyncpg.create_pool(
        asyncpg_dsn(url), min_size=min_size, max_size=max_size
    )
    return pool


async def check_pool(pool: asyncpg.Pool) -> None:
    """Readiness probe: raises unless the database answers."""
    async with pool.acquire() as connection:
        await connection.fetchval("SELECT 1")
