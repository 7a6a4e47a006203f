"""A service's own PostgreSQL on plain asyncpg: pools, their readiness check, and the DSN they
take (SQLAlchemy's engine and sessions are in ``tradewind.common.sql``)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import asyncpg

log = logging.getLogger(__name__)

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

    The caller does not wait for a release either (``PromptReleasePool``).
    """
    pool = PromptReleasePool(
        asyncpg_dsn(url),
        min_size=min_size,
        max_size=max_size,
        max_queries=_MAX_QUERIES,
        max_inactive_connection_lifetime=_MAX_INACTIVE_CONNECTION_LIFETIME_S,
        reset=_keep_session,
        loop=None,
        connection_class=asyncpg.Connection,
        record_class=asyncpg.Record,
        server_settings=server_settings,
    )
    await pool
    return pool


# asyncpg.create_pool's defaults, which its Pool class does not have.
_MAX_QUERIES = 50_000
_MAX_INACTIVE_CONNECTION_LIFETIME_S = 300.0


class PromptReleasePool(asyncpg.Pool):  # type: ignore[misc]  # asyncpg has no type hints
    """asyncpg's pool, but whoever releases a connection goes on at once.

    asyncpg runs each release in a task of its own (``asyncio.shield``, so that a cancellation
    cannot lose the connection) and makes the caller wait for it: two more event-loop turns for
    every query or transaction, after its answer is in hand. Under full load a turn is every
    ready callback of the process, so a readiness probe or a read waited two of them for nothing
    the caller needs. The release still runs in its own task, whole, whatever happens to the
    caller; what it would have raised is logged. The pool's own ``close`` waits for it.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._releasing: set[asyncio.Future[None]] = set()

    async def release(
        self, connection: asyncpg.pool.PoolConnectionProxy, *, timeout: float | None = None
    ) -> None:
        releasing = asyncio.ensure_future(super().release(connection, timeout=timeout))
        # Nothing else refers to the task: keep it until it is done.
        self._releasing.add(releasing)
        releasing.add_done_callback(self._releasing.discard)
        releasing.add_done_callback(_report_failed_release)


def _report_failed_release(releasing: asyncio.Future[None]) -> None:
    if not releasing.cancelled() and (error := releasing.exception()) is not None:
        log.warning("returning a connection to the pool failed", exc_info=error)


async def _keep_session(connection: asyncpg.Connection) -> None:
    """No reset beyond what asyncpg always does (rolling back an open transaction)."""


async def check_pool(pool: asyncpg.Pool) -> None:
    """Readiness probe: raises unless the database answers."""
    async with pool.acquire() as connection:
        await connection.fetchval("SELECT 1")
