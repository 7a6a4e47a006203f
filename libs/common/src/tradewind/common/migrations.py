"""Alembic plumbing shared by every service's ``migrations/env.py``.

A service's env.py calls ``run_alembic_env(target_metadata)``; the database URL comes from the
``-x url=...`` argument or ``sqlalchemy.url`` set by ``upgrade_database``, never from a file.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from tradewind.common.db import asyncpg_dsn


def _run_sync(connection: Connection, metadata: MetaData) -> None:
    context.configure(connection=connection, target_metadata=metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run_online(url: str, metadata: MetaData) -> None:
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_sync, metadata)
    finally:
        await engine.dispose()


def run_alembic_env(metadata: MetaData) -> None:
    url = context.get_x_argument(as_dictionary=True).get("url") or context.config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise RuntimeError("no database URL: pass -x url=... or use upgrade_database()")
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    asyncio.run(_run_online(url, metadata))


def alembic_config(service_dir: Path, url: str) -> Config:
    config = Config(str(service_dir / "alembic.ini"))
    config.set_main_option("script_location", str(service_dir / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade_database(service_dir: Path, url: str, revision: str = "head") -> None:
    """Apply migrations (blocking; call from a thread inside an event loop)."""
    command.upgrade(alembic_config(service_dir, url), revision)


async def upgrade_database_once(
    service_dir: Path, url: str, *, lock_key: int, connect_timeout_s: float = 10.0
) -> None:
    """Apply migrations at a process's start: a PostgreSQL advisory lock (``lock_key``, one per
    service) keeps processes starting together from racing; the others then find nothing to do."""
    connection = await asyncpg.connect(asyncpg_dsn(url), timeout=connect_timeout_s)
    try:
        await connection.execute("SELECT pg_advisory_lock($1)", lock_key)
        await asyncio.to_thread(upgrade_database, service_dir, url)
    finally:
        await connection.close()
