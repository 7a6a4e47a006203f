"""The deliveries table as a work queue: claim due deliveries with a lease, finish them.

A claim reserves a delivery for one process until ``lease_until``; no row lock is held while the
HTTP request runs. A process that dies leaves its leases to expire, after which the deliveries are
due again (the same webhook-id is sent again; receivers deduplicate on it). Finishing checks the
lease token, so a process that lost its lease cannot overwrite the work of the one that took over.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy import delete, exists, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tradewind.webhooks.adapters import tables as t
from tradewind.webhooks.domain.delivery_rules import (
    AttemptResult,
    Circuit,
    DeliveryDecision,
    DeliveryStatus,
    EndpointHealth,
)

# Claims are serialised by this transaction-level advisory lock so the per-endpoint bound holds
# across processes: a claim sees every lease taken by the claims before it. Claims are short.
_CLAIM_LOCK_KEY = 0x7457_6862_6B73  # "tWhbks"

_CLAIM = """
    WITH picked AS (
        SELECT due.id, due.next_attempt_at
        FROM endpoints e
        CROSS JOIN LATERAL (
            SELECT count(*) AS n FROM deliveries busy
            WHERE busy.endpoint_id = e.id AND busy.lease_until IS NOT NULL
              AND busy.lease_until > now() AND busy.status = 'pending'
        ) in_flight
        CROSS JOIN LATERAL (
            SELECT d.id, d.next_attempt_at FROM deliveries d
            WHERE d.endpoint_id = e.id AND d.status = 'pending' AND d.next_attempt_at <= now()
              AND (d.lease_until IS NULL OR d.lease_until <= now())
            ORDER BY d.next_attempt_at
            -- an open circuit past its open_until is half-open: one probe at a time
            LIMIT GREATEST(
                (CASE WHEN e.circuit = 'closed' THEN $2::int ELSE 1 END) - in_flight.n, 0)
            FOR UPDATE SKIP LOCKED
        ) due
        WHERE e.enabled AND (e.circuit = 'closed' OR e.open_until <= now())
        ORDER BY due.next_attempt_at
        LIMIT $1
    )
    UPDATE deliveries d
    SET lease_until = now() + $3::interval, lease_token = $4
    FROM picked, messages m, endpoints e
    WHERE d.id = picked.id AND m.id = d.message_id AND e.id = d.endpoint_id
    RETURNING d.id, d.attempts, d.round_attempts, d.message_id, d.endpoint_id,
              m.account_id, m.event_id, m.event_type, m.payload, m.trace_headers::text,
              e.url, e.secret, e.previous_secret, e.previous_secret_expires_at,
              (e.circuit = 'closed' AND e.consecutive_failures = 0
               AND e.failing_since IS NULL) AS endpoint_was_healthy
"""

# Every success of a batch in one statement (and so one implicit transaction).
_SUCCEEDED = """
    WITH outcome AS (
        SELECT * FROM unnest($1::bigint[], $2::text[], $3::int[], $4::timestamptz[],
                             $5::int[], $6::int[], $7::text[])
            AS o(delivery_id, lease_token, attempt_number, started_at, duration_ms,
                 status_code, response_body)
    ), finished AS (
        UPDATE deliveries d
        SET status = 'succeeded', attempts = d.attempts + 1,
            round_attempts = d.round_attempts + 1, lease_until = NULL, lease_token = NULL,
            last_attempt_at = now(), updated_at = now()
        FROM outcome o
        WHERE d.id = o.delivery_id AND d.lease_token = o.lease_token
        RETURNING d.id, d.message_id, d.endpoint_id
    )
    INSERT INTO attempts (delivery_id, message_id, endpoint_id, attempt_number, started_at,
                          duration_ms, status_code, response_body, error, succeeded)
    SELECT f.id, f.message_id, f.endpoint_id, o.attempt_number, o.started_at,
           o.duration_ms, o.status_code, o.response_body, NULL, true
    FROM finished f JOIN outcome o ON o.delivery_id = f.id
    RETURNING delivery_id
"""

_NEXT_DUE = """
    SELECT EXTRACT(EPOCH FROM min(next_attempt_at) - now())::float8 FROM deliveries
    WHERE status = 'pending' AND next_attempt_at > now()
"""


@dataclass(frozen=True)
class DeliveryJob:
    """One claimed delivery: everything needed to make the attempt without another query."""

    delivery_id: int
    lease_token: str
    message_id: str
    endpoint_id: str
    account_id: str
    event_id: str
    event_type: str
    url: str
    payload: bytes
    trace_headers: Mapping[str, str]
    secret: str
    previous_secret: str | None
    previous_secret_expires_at: datetime | None
    attempt_number: int  # over the delivery's life, for the attempts list
    attempt_in_round: int  # within the current round of the schedule
    # A success at an endpoint that was healthy when claimed changes nothing about the endpoint.
    endpoint_was_healthy: bool


@dataclass(frozen=True)
class Success:
    job: DeliveryJob
    status_code: int
    started_at: datetime
    duration_ms: int
    response_body: str | None


@dataclass(frozen=True)
class EndpointState:
    account_id: str
    enabled: bool
    health: EndpointHealth
    now: datetime


# --- the hot path: raw asyncpg, few round trips ---


async def claim(
    connection: asyncpg.Connection, *, limit: int, per_endpoint: int, lease: timedelta
) -> list[DeliveryJob]:
    """Lease up to ``limit`` due deliveries, never more in flight per endpoint than its bound."""
    token = uuid.uuid4().hex
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock($1)", _CLAIM_LOCK_KEY)
        rows = await connection.fetch(_CLAIM, limit, per_endpoint, lease, token)
    return [_job(row, token) for row in rows]


def _job(row: Any, token: str) -> DeliveryJob:
    return DeliveryJob(
        delivery_id=row["id"],
        lease_token=token,
        message_id=row["message_id"],
        endpoint_id=row["endpoint_id"],
        account_id=row["account_id"],
        event_id=row["event_id"],
        event_type=row["event_type"],
        url=row["url"],
        payload=bytes(row["payload"]),
        trace_headers=json.loads(row["trace_headers"] or "{}"),
        secret=row["secret"],
        previous_secret=row["previous_secret"],
        previous_secret_expires_at=row["previous_secret_expires_at"],
        attempt_number=row["attempts"] + 1,
        attempt_in_round=row["round_attempts"] + 1,
        endpoint_was_healthy=row["endpoint_was_healthy"],
    )


async def finish_successes(connection: asyncpg.Connection, batch: Sequence[Success]) -> set[int]:
    """Mark the deliveries succeeded and record their attempts; the ids whose lease still held
    (a lost lease, or a delivery deleted with its endpoint, records nothing)."""
    rows = await connection.fetch(
        _SUCCEEDED,
        [s.job.delivery_id for s in batch],
        [s.job.lease_token for s in batch],
        [s.job.attempt_number for s in batch],
        [s.started_at for s in batch],
        [s.duration_ms for s in batch],
        [s.status_code for s in batch],
        [s.response_body for s in batch],
    )
    return {row["delivery_id"] for row in rows}


async def seconds_until_next_due(connection: asyncpg.Connection) -> float | None:
    """Seconds until the earliest scheduled retry, if any is scheduled in the future."""
    seconds: float | None = await connection.fetchval(_NEXT_DUE)
    return seconds


# --- the failure path: SQLAlchemy, in the transaction that also writes the outbox ---


async def read_endpoint(
    session: AsyncSession, endpoint_id: str, *, lock: bool
) -> EndpointState | None:
    """The endpoint's health; with ``lock``, row-locked until commit so that outcomes changing
    it apply one after another (FOR NO KEY UPDATE: new deliveries may still reference it)."""
    e = t.endpoints.c
    query = select(
        e.account_id,
        e.enabled,
        e.circuit,
        e.consecutive_failures,
        e.open_until,
        e.failing_since,
        func.clock_timestamp().label("now"),
    ).where(e.id == endpoint_id)
    if lock:
        query = query.with_for_update(key_share=True)
    row = (await session.execute(query)).one_or_none()
    if row is None:
        return None
    return EndpointState(
        account_id=row.account_id,
        enabled=row.enabled,
        health=EndpointHealth(
            Circuit(row.circuit), row.consecutive_failures, row.open_until, row.failing_since
        ),
        now=row.now,
    )


async def finish(
    session: AsyncSession, job: DeliveryJob, decision: DeliveryDecision, now: datetime
) -> bool:
    """Apply ``decision`` and release the lease; False if the lease was lost meanwhile."""
    d = t.deliveries.c
    values: dict[str, Any] = {
        "status": decision.status.value,
        "attempts": d.attempts + 1,
        "round_attempts": d.round_attempts + 1,
        "lease_until": None,
        "lease_token": None,
        "last_attempt_at": now,
        "updated_at": now,
    }
    if decision.next_attempt_at is not None:
        values["next_attempt_at"] = decision.next_attempt_at
    result = await session.execute(
        update(t.deliveries)
        .where(d.id == job.delivery_id, d.lease_token == job.lease_token)
        .values(**values)
        .returning(d.id)
    )
    return result.first() is not None


async def add_attempt(
    session: AsyncSession,
    job: DeliveryJob,
    result: AttemptResult,
    *,
    started_at: datetime,
    duration_ms: int,
    response_body: str | None,
) -> None:
    await session.execute(
        insert(t.attempts).values(
            delivery_id=job.delivery_id,
            message_id=job.message_id,
            endpoint_id=job.endpoint_id,
            attempt_number=job.attempt_number,
            started_at=started_at,
            duration_ms=duration_ms,
            status_code=result.status_code,
            response_body=response_body,
            error=result.error,
            succeeded=result.succeeded,
        )
    )


async def save_health(
    session: AsyncSession,
    endpoint_id: str,
    health: EndpointHealth,
    *,
    disabled_reason: str | None,
) -> None:
    values: dict[str, Any] = {
        "circuit": health.circuit.value,
        "consecutive_failures": health.consecutive_failures,
        "open_until": health.open_until,
        "failing_since": health.failing_since,
    }
    if disabled_reason is not None:
        values.update(enabled=False, disabled_reason=disabled_reason, updated_at=func.now())
    await session.execute(
        update(t.endpoints).where(t.endpoints.c.id == endpoint_id).values(**values)
    )


async def purge_finished(session: AsyncSession, older_than: timedelta) -> int:
    """Delete messages (with their deliveries and attempts) with nothing pending, and old inbox."""
    m, d = t.messages.c, t.deliveries.c
    cutoff = func.now() - older_than
    pending = exists().where(d.message_id == m.id, d.status == DeliveryStatus.PENDING.value)
    result = await session.execute(
        delete(t.messages).where(m.created_at < cutoff, ~pending).returning(m.id)
    )
    await session.execute(delete(t.inbox).where(t.inbox.c.processed_at < cutoff))
    return len(result.all())
