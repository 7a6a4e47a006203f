"""The jobs table: a job created once per id, its runs' state, its file, its event.

Plain asyncpg like the rest of the service. Each method is one short transaction: a job's
progress must be visible to readers while it runs, so a run is not one long transaction.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any
from uuid import UUID

import asyncpg

from tradewind.common.contracts.jobs import JobKind, JobPriority, JobStatus
from tradewind.common.outbox import NOTIFY_CHANNEL, OutboxMessage
from tradewind.orders.domain.jobs import Job

_COLUMNS = (
    "id, account_id, kind, params, priority, status, progress, attempts, not_before, "
    "created_at, updated_at, started_at, finished_at, error, result_rows"
)


class JobStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def create(self, job: Job) -> Job:
        """Insert ``job`` unless its id exists; the stored job either way (a redelivered
        command finds the first one, whatever happened to it since)."""
        async with self.pool.acquire() as connection:
            row = await connection.fetchrow(
                f"""
                WITH created AS (
                    INSERT INTO jobs (id, account_id, kind, params, priority, status, progress,
                                      attempts, not_before, created_at, updated_at)
                    VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $8, $9, $10, $10)
                    ON CONFLICT (id) DO NOTHING
                    RETURNING {_COLUMNS}
                )
                SELECT {_COLUMNS} FROM created
                UNION ALL
                SELECT {_COLUMNS} FROM jobs WHERE id = $1
                LIMIT 1
                """,
                job.id,
                job.account_id,
                job.kind.value,
                json.dumps({"start": job.start.isoformat(), "end": job.end.isoformat()}),
                job.priority.value,
                job.status.value,
                job.progress,
                job.attempts,
                job.not_before,
                job.created_at,
            )
        assert row is not None  # inserted, or there already
        return job_from_row(row)

    async def save(self, job: Job) -> None:
        """Record a run's state: started, progress, failed."""
        async with self.pool.acquire() as connection:
            await connection.execute(
                """
                UPDATE jobs SET status = $2, progress = $3, attempts = $4, started_at = $5,
                                finished_at = $6, error = $7, updated_at = $8
                 WHERE id = $1
                """,
                job.id,
                job.status.value,
                job.progress,
                job.attempts,
                job.started_at,
                job.finished_at,
                job.error,
                job.updated_at,
            )

    async def save_success(self, job: Job, file: bytes, event: OutboxMessage) -> None:
        """The job succeeded with ``file``, and its event staged in the outbox: one transaction,
        so the event leaves if and only if the file is there."""
        async with self.pool.acquire() as connection, connection.transaction():
            await connection.execute(
                """
                UPDATE jobs SET status = $2, progress = $3, finished_at = $4, error = NULL,
                                updated_at = $4, result_rows = $5, result = $6
                 WHERE id = $1
                """,
                job.id,
                job.status.value,
                job.progress,
                job.finished_at,
                job.result_rows,
                file,
            )
            await connection.execute(
                "INSERT INTO outbox (message_id, message_type, exchange, routing_key, body, "
                "headers) VALUES ($1, $2, $3, $4, $5, $6::jsonb) ON CONFLICT (message_id) "
                "DO NOTHING",
                *event.sql_params(),
            )
            await connection.execute(f"SELECT pg_notify('{NOTIFY_CHANNEL}', '')")

    # --- reads (the API's pool) ---

    async def job(self, account_id: str, job_id: UUID) -> Job | None:
        async with self.pool.acquire() as connection:
            row = await connection.fetchrow(
                f"SELECT {_COLUMNS} FROM jobs WHERE id = $1 AND account_id = $2",
                job_id,
                account_id,
            )
        return None if row is None else job_from_row(row)

    async def file(self, account_id: str, job_id: UUID) -> tuple[Job, bytes | None] | None:
        """The job and its file (None until it succeeded); None if the account has no such job."""
        async with self.pool.acquire() as connection:
            row = await connection.fetchrow(
                f"SELECT {_COLUMNS}, result FROM jobs WHERE id = $1 AND account_id = $2",
                job_id,
                account_id,
            )
        if row is None:
            return None
        file: bytes | None = row["result"]
        return job_from_row(row), file


def job_from_row(row: asyncpg.Record) -> Job:
    params: dict[str, Any] = json.loads(row["params"])
    return Job(
        id=row["id"],
        account_id=row["account_id"],
        kind=JobKind(row["kind"]),
        priority=JobPriority(row["priority"]),
        start=date.fromisoformat(params["start"]),
        end=date.fromisoformat(params["end"]),
        status=JobStatus(row["status"]),
        progress=row["progress"],
        attempts=row["attempts"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        not_before=row["not_before"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        error=row["error"],
        result_rows=row["result_rows"],
    )
