"""A service's own PostgreSQL on plain asyncpg: pools, their readiness check, and the DSN they
take (SQLAlchemy's engine and sessions are in ``tradewind.common.sql``)."""

from __future__ import annotations

import asyncpg

# The schemes of a PostgreSQL URL, SQLAlchemy's (with a driver) and libpq's.
_POSTGRES_SCHEMES = ("postgresql", "postgres")


def asyncpg_dsn(url: str) -> str:
    """The same database as a plain ``postgresql://`` DSN, for asyncpg (a SQLAlchemy URL such as
    ``postgresql+asyncpg://…`` is accepted: only its driver is dropped)."""
    scheme, separator, rest = url.partition("://")
    if not separator or scheme.split("+", 1)[0] not in _POSTGRES_SCHEMES:
        raise ValueError("not a PostgreSQL URL (postgresql:// or postgresql+<driver>://)")
    return "postgresql://" + rest


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
