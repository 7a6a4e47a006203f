"""The credentials of record: accounts and API keys in the gateway's PostgreSQL database.

Plain asyncpg, a few fixed statements. Every failure to reach the database is raised as
``AuthStoreUnavailable`` so the HTTP layer can answer 503 without knowing asyncpg.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import asyncpg

from tradewind.common.db import asyncpg_dsn
from tradewind.common.migrations import upgrade_database_once
from tradewind.gateway.domain.rate_limits import (
    Budget,
    BudgetName,
    budgets_from_record,
    budgets_to_record,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

# services/gateway: where alembic.ini and migrations/ live (for upgrade_database).
SERVICE_DIR = Path(__file__).resolve().parents[4]
_MIGRATION_LOCK_KEY = 0x7447_776D_6967  # "tGwmig"

# A database that does not answer must not hold a request (or the readiness probe) for long.
COMMAND_TIMEOUT_S = 2.0
CONNECT_TIMEOUT_S = 2.0
_DATABASE_DOWN = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


class AuthStoreUnavailable(Exception):
    """The credentials database could not be read or written."""


class KeyOwnedElsewhere(ValueError):
    """A key issued again (same secret) for an account that is not its own."""


@dataclass(frozen=True, slots=True)
class KeyRecord:
    key_id: str
    digest: str
    account_id: str
    scopes: frozenset[str]
    rate_budgets: tuple[Budget, ...]  # the key's own; empty: the gateway's defaults
    version: int
    created_at: datetime
    revoked_at: datetime | None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


_COLUMNS = "key_id, digest, account_id, scopes, rate_budgets, version, created_at, revoked_at"


def _record(row: asyncpg.Record) -> KeyRecord:
    budgets = row["rate_budgets"]
    return KeyRecord(
        key_id=row["key_id"],
        digest=row["digest"],
        account_id=row["account_id"],
        scopes=frozenset(row["scopes"]),
        rate_budgets=budgets_from_record(json.loads(budgets) if budgets is not None else None),
        version=row["version"],
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
    )


class Credentials:
    """Accounts and keys; only hashes of keys are stored."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def _run(self, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        try:
            async with self.pool.acquire(timeout=CONNECT_TIMEOUT_S) as connection:
                return await work(connection)
        except _DATABASE_DOWN as exc:
            log.warning("credentials database unavailable", extra={"error": repr(exc)})
            raise AuthStoreUnavailable("the credentials database is unavailable") from exc

    async def issue(
        self,
        *,
        key_id: str,
        digest: str,
        account_id: str,
        scopes: frozenset[str],
        rate_budgets: tuple[Budget, ...] = (),
    ) -> KeyRecord:
        """Store a new key, or give a key issued again (same secret) these scopes and budgets,
        unrevoked."""
        # NULL, not an empty object, for "the gateway's defaults".
        budgets = json.dumps(budgets_to_record(rate_budgets)) if rate_budgets else None

        async def work(connection: asyncpg.Connection) -> asyncpg.Record | None:
            async with connection.transaction():
                await connection.execute(
                    "INSERT INTO accounts (id) VALUES ($1) ON CONFLICT DO NOTHING", account_id
                )
                row: asyncpg.Record | None = await connection.fetchrow(
                    f"""
                    INSERT INTO api_keys (key_id, digest, account_id, scopes, rate_budgets)
                    VALUES ($1, $2, $3, $4, $5::jsonb)
                    ON CONFLICT (key_id) DO UPDATE
                    SET scopes = EXCLUDED.scopes, rate_budgets = EXCLUDED.rate_budgets,
                        revoked_at = NULL,
                        version = api_keys.version + 1, updated_at = now()
                    WHERE api_keys.account_id = EXCLUDED.account_id
                      AND api_keys.digest = EXCLUDED.digest
                    RETURNING {_COLUMNS}
                    """,
                    key_id,
                    digest,
                    account_id,
                    sorted(scopes),
                    budgets,
                )
                return row

        row = await self._run(work)
        if row is None:
            raise KeyOwnedElsewhere("this key belongs to another account")
        return _record(row)

    async def find(self, key_id: str) -> KeyRecord | None:
        async def work(connection: asyncpg.Connection) -> asyncpg.Record | None:
            row: asyncpg.Record | None = await connection.fetchrow(
                f"SELECT {_COLUMNS} FROM api_keys WHERE key_id = $1", key_id
            )
            return row

        row = await self._run(work)
        return _record(row) if row is not None else None

    async def list_keys(self, account_id: str, *, limit: int = 1000) -> list[KeyRecord]:
        async def work(connection: asyncpg.Connection) -> list[asyncpg.Record]:
            rows: list[asyncpg.Record] = await connection.fetch(
                f"""
                SELECT {_COLUMNS} FROM api_keys WHERE account_id = $1
                ORDER BY created_at, key_id LIMIT $2
                """,
                account_id,
                limit,
            )
            return rows

        return [_record(row) for row in await self._run(work)]

    async def revoke(self, account_id: str, key_id: str) -> KeyRecord | None:
        """Revoke (again, harmlessly); None if the account has no such key."""

        async def work(connection: asyncpg.Connection) -> asyncpg.Record | None:
            # The version moves even for a key revoked before: a retried revoke pushes its state
            # to the caches again (the first attempt may have failed after the commit).
            row: asyncpg.Record | None = await connection.fetchrow(
                f"""
                UPDATE api_keys
                SET revoked_at = coalesce(revoked_at, now()), version = version + 1,
                    updated_at = now()
                WHERE key_id = $1 AND account_id = $2
                RETURNING {_COLUMNS}
                """,
                key_id,
                account_id,
            )
            return row

        row = await self._run(work)
        return _record(row) if row is not None else None

    async def update(
        self,
        account_id: str,
        key_id: str,
        *,
        scopes: frozenset[str] | None = None,
        rate_budgets: Mapping[BudgetName, Budget | None] | None = None,
    ) -> KeyRecord | None:
        """Change a key of the account; None if it has no such key. ``scopes`` replace its
        scopes; each of ``rate_budgets`` sets that budget, or with None returns it to the
        gateway's default, and the budgets not named keep what they were. A revoked key keeps
        its revocation and everything else (the caller sees ``revoked``); its version moves
        all the same, so a retried change reaches the caches again."""
        # A JSON merge patch of the stored object: named budgets replace theirs, nulls remove
        # theirs (jsonb_strip_nulls), and an object left empty is NULL again ("the defaults").
        changes = rate_budgets or {}
        returned = {name: None for name, budget in changes.items() if budget is None}
        chosen = tuple(budget for budget in changes.values() if budget is not None)
        budgets_patch = json.dumps({**returned, **budgets_to_record(chosen)})

        async def work(connection: asyncpg.Connection) -> asyncpg.Record | None:
            row: asyncpg.Record | None = await connection.fetchrow(
                f"""
                UPDATE api_keys
                SET scopes = CASE WHEN revoked_at IS NULL THEN coalesce($3, scopes)
                                  ELSE scopes END,
                    rate_budgets = CASE WHEN revoked_at IS NULL THEN nullif(
                        jsonb_strip_nulls(coalesce(rate_budgets, '{{}}'::jsonb) || $4::jsonb),
                        '{{}}'::jsonb)
                        ELSE rate_budgets END,
                    version = version + 1, updated_at = now()
                WHERE key_id = $1 AND account_id = $2
                RETURNING {_COLUMNS}
                """,
                key_id,
                account_id,
                sorted(scopes) if scopes is not None else None,
                budgets_patch,
            )
            return row

        row = await self._run(work)
        return _record(row) if row is not None else None

    async def check(self) -> None:
        async def work(connection: asyncpg.Connection) -> None:
            await connection.fetchval("SELECT 1 FROM api_keys LIMIT 1")

        await self._run(work)


async def create_credentials_pool(database_url: str, *, max_size: int) -> asyncpg.Pool:
    pool: asyncpg.Pool = await asyncpg.create_pool(
        asyncpg_dsn(database_url),
        min_size=1,
        max_size=max_size,
        command_timeout=COMMAND_TIMEOUT_S,
        timeout=CONNECT_TIMEOUT_S,
    )
    return pool


@asynccontextmanager
async def open_credentials(database_url: str, *, max_size: int = 2) -> AsyncIterator[Credentials]:
    pool = await create_credentials_pool(database_url, max_size=max_size)
    try:
        yield Credentials(pool)
    finally:
        async with asyncio.timeout(10):
            await pool.close()


async def migrate(database_url: str) -> None:
    """Apply migrations; an advisory lock keeps gateways starting together from racing."""
    await upgrade_database_once(
        SERVICE_DIR,
        database_url,
        lock_key=_MIGRATION_LOCK_KEY,
        connect_timeout_s=CONNECT_TIMEOUT_S,
    )
