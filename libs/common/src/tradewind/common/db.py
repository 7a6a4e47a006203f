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


async def create_pool(
    url: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    server_settings: dict[str, str] | None = None,
) -> asyncpg.Pool:
    """A plain asyncpg pool on ``url`` (a SQLAlchemy URL is accepted), for raw-SQL adapters.

    Connections go back to the pool without asyncpg's reset statement (RESET ALL, UNLISTEN *,
    CLOSE ALL, unlocking advisory locks): a round trip per transaction for state these pools never
    hold. Nothing LISTENs on a pooled connection (the outbox relay listens on one of its own),
    nothing takes session advisory locks or opens cursors outside a transaction, and settings are
    fixed at connect (``server_settings``). A transaction left open is still rolled back.
    """
    pool: asyncpg.Pool = await asyncpg.create_pool(
        asyncpg_dsn(url),
        min_size=min_size,
        max_size=max_size,
        reset=_keep_session,
        server_settings=server_settings,
    )
    return pool


async def _keep_session(connection: asyncpg.Connection) -> None:
    """No reset beyond what asyncpg always does (rolling back an open transaction)."""


async def check_pool(pool: asyncpg.Pool) -> None:
    """Readiness probe: raises unless the database answers."""
    async with pool.acquire() as connection:
        await connection.fetchval("SELECT 1")
