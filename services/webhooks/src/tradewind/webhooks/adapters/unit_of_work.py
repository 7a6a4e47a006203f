"""The unit of work of every webhooks write: one transaction on one connection, plain asyncpg.

The event intake, the delivery queue (claims, successes, failures), endpoint management, the
events queue's bindings and the purge all change the database through this one interface:

- **read and lock** what a decision needs (an account's subscriptions, an endpoint's health under
  its row lock, the bindings lock);
- **write** in as few statements as the path allows (the intake writes inbox, message, deliveries
  and its NOTIFY in one; a batch of successes is one);
- **stage** outbox events and the dispatchers' wake-up, flushed in one statement when the
  transaction ends, so they commit with the change that caused them, or not at all.

``begin`` opens the transaction. The intake alone uses ``one_statement``: its read may see a state
before its write, and its write is one statement (atomic on its own), so BEGIN and COMMIT would
only add two round trips per event to the hot path; what needs a transaction (locks, leases,
staged rows) refuses to run in such a unit.

Plain asyncpg rather than SQLAlchemy: the webhooks hot path (intake, claims, successes) was
CPU-bound on SQLAlchemy and runs here as prepared statements, two round trips per event; the rare
paths (API writes, failures, bindings) share the connection and the transaction rather than a
second style (docs/performance.md, "Webhooks: one data-access style").

The delivery queue: a claim reserves a delivery for one process until ``lease_until``; no row lock
is held while the HTTP request runs. A process that dies leaves its leases to expire, after which
the deliveries are due again (the same webhook-id is sent again; receivers deduplicate on it).
Finishing checks the lease token, so a process that lost its lease cannot overwrite the work of
the one that took over.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any, Self

import asyncpg

from tradewind.common.outbox import NOTIFY_CHANNEL, OutboxMessage
from tradewind.webhooks.adapters.records import (
    DELIVERIES_CHANNEL,
    DISABLED_BY_ACCOUNT,
    ENDPOINT_COLUMNS,
    DeliveryJob,
    Endpoint,
    EndpointLimitReached,
    EndpointNotFound,
    EndpointState,
    MessageNotFound,
    NewMessage,
    Subscription,
    Success,
    endpoint_from_row,
    job_from_row,
)
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
# Every process's bindings reconcile takes this one, so one runs at a time.
_BINDINGS_LOCK_KEY = 0x7457_6269_6E64  # "tWbind"

# Columns an endpoint change may set (the API's patch, and what enabling or disabling implies).
_CHANGEABLE = frozenset(
    {
        "url",
        "description",
        "event_types",
        "enabled",
        "disabled_reason",
        "circuit",
        "consecutive_failures",
        "open_until",
        "failing_since",
    }
)


class TransactionRequired(RuntimeError):
    """A lock, a lease or a staged write was asked of a unit without a transaction."""


_HEALTHY: dict[str, Any] = {
    "circuit": Circuit.CLOSED.value,
    "consecutive_failures": 0,
    "open_until": None,
    "failing_since": None,
}


class WebhooksUnitOfWork:
    """One transaction on one connection; ``begin`` opens it, flushes and commits."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self.connection = connection
        self._events: list[OutboxMessage] = []
        self._wake_dispatchers = False

    @classmethod
    @asynccontextmanager
    async def begin(cls, pool: asyncpg.Pool) -> AsyncIterator[Self]:
        """A transaction: what is staged is flushed and committed when the block ends normally,
        and nothing is written if it raises."""
        async with pool.acquire() as connection, connection.transaction():
            unit = cls(connection)
            yield unit
            await unit.flush()

    @classmethod
    @asynccontextmanager
    async def one_statement(cls, pool: asyncpg.Pool) -> AsyncIterator[Self]:
        """No transaction: each statement commits on its own (the intake's reads, then its one
        write). Methods that need a transaction raise ``TransactionRequired``."""
        async with pool.acquire() as connection:
            yield cls(connection)

    def _in_transaction(self) -> None:
        if not self.connection.is_in_transaction():
            raise TransactionRequired("this needs a unit of work opened with begin()")

    # --- staged until the end of the transaction ---

    def add_event(self, message: OutboxMessage) -> None:
        """An outbox row, written with the transaction; the relay publishes it after commit."""
        self._in_transaction()
        self._events.append(message)

    def wake_dispatchers(self) -> None:
        """Deliveries became due: the dispatchers hear it when the transaction commits."""
        self._in_transaction()
        self._wake_dispatchers = True

    async def flush(self) -> None:
        """Write what is staged, in one statement (none if nothing is)."""
        if not self._events and not self._wake_dispatchers:
            return
        rows = [message.sql_params() for message in self._events]
        await self.connection.execute(
            _FLUSH,
            [row[0] for row in rows],
            [row[1] for row in rows],
            [row[2] for row in rows],
            [row[3] for row in rows],
            [row[4] for row in rows],
            [row[5] for row in rows],
            self._wake_dispatchers,
        )
        self._events.clear()
        self._wake_dispatchers = False

    # --- the event intake (the hot path: two statements per event) ---

    async def subscriptions(self, account_id: str) -> list[Subscription]:
        rows = await self.connection.fetch(_SUBSCRIPTIONS, account_id)
        return [Subscription(row["id"], tuple(row["event_types"])) for row in rows]

    async def fan_out(
        self, consumer: str, message: NewMessage, endpoint_ids: Sequence[str]
    ) -> bool:
        """The inbox record, the message and one delivery per endpoint, and the dispatchers'
        wake-up, in one statement; False if this event was fanned out before. An endpoint
        deleted since it was read fails the statement (foreign key); the broker retries."""
        stored = await self.connection.fetch(
            _FAN_OUT,
            consumer,
            message.event_id,
            message.id,
            message.account_id,
            message.event_type,
            message.payload,
            json.dumps(dict(message.trace_headers)),
            list(endpoint_ids),
        )
        return bool(stored)

    # --- the delivery queue ---

    async def claim(self, *, limit: int, per_endpoint: int, lease: timedelta) -> list[DeliveryJob]:
        """Lease up to ``limit`` due deliveries, never more in flight per endpoint than its bound.
        The lease holds once the transaction commits: claim in a unit of its own."""
        self._in_transaction()
        token = uuid.uuid4().hex
        await self.connection.execute("SELECT pg_advisory_xact_lock($1)", _CLAIM_LOCK_KEY)
        rows = await self.connection.fetch(_CLAIM, limit, per_endpoint, lease, token)
        return [job_from_row(row, token) for row in rows]

    async def finish_successes(self, batch: Sequence[Success]) -> set[int]:
        """Mark the deliveries succeeded and record their attempts, in one statement; the ids
        whose lease still held (a lost lease, or a delivery deleted with its endpoint, records
        nothing)."""
        rows = await self.connection.fetch(
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

    async def endpoint_state(self, endpoint_id: str, *, lock: bool) -> EndpointState | None:
        """The endpoint's health; with ``lock``, row-locked until commit so that outcomes changing
        it apply one after another (FOR NO KEY UPDATE: new deliveries may still reference it)."""
        if lock:
            self._in_transaction()
        row = await self.connection.fetchrow(
            _ENDPOINT_STATE_LOCKED if lock else _ENDPOINT_STATE, endpoint_id
        )
        if row is None:
            return None
        return EndpointState(
            account_id=row["account_id"],
            enabled=row["enabled"],
            health=EndpointHealth(
                Circuit(row["circuit"]),
                row["consecutive_failures"],
                row["open_until"],
                row["failing_since"],
            ),
            now=row["now"],
        )

    async def finish(self, job: DeliveryJob, decision: DeliveryDecision, now: datetime) -> bool:
        """Apply ``decision`` and release the lease; False if the lease was lost meanwhile."""
        finished = await self.connection.fetchval(
            _FINISH,
            job.delivery_id,
            job.lease_token,
            decision.status.value,
            now,
            decision.next_attempt_at,
        )
        return finished is not None

    async def add_attempt(
        self,
        job: DeliveryJob,
        result: AttemptResult,
        *,
        started_at: datetime,
        duration_ms: int,
        response_body: str | None,
    ) -> None:
        await self.connection.execute(
            _ADD_ATTEMPT,
            job.delivery_id,
            job.message_id,
            job.endpoint_id,
            job.attempt_number,
            started_at,
            duration_ms,
            result.status_code,
            response_body,
            result.error,
            result.succeeded,
        )

    async def save_health(
        self, endpoint_id: str, health: EndpointHealth, *, disabled_reason: str | None
    ) -> None:
        """The endpoint's new health; with a ``disabled_reason``, the service switches it off."""
        await self.connection.execute(
            _SAVE_HEALTH,
            endpoint_id,
            health.circuit.value,
            health.consecutive_failures,
            health.open_until,
            health.failing_since,
            disabled_reason,
        )

    async def purge_finished(self, older_than: timedelta) -> int:
        """Delete messages (with their deliveries and attempts) with nothing pending, and the
        inbox records older than ``older_than``; the number of messages deleted."""
        purged: int = await self.connection.fetchval(_PURGE_MESSAGES, older_than)
        await self.connection.execute(_PURGE_INBOX, older_than)
        return purged

    # --- endpoints ---

    async def create_endpoint(
        self,
        *,
        endpoint_id: str,
        account_id: str,
        url: str,
        description: str,
        event_types: Sequence[str],
        enabled: bool,
        secret: str,
        limit: int,
    ) -> Endpoint:
        # Serialise creations per account so two concurrent ones cannot both pass the limit.
        self._in_transaction()
        await self.connection.execute(_LOCK_ACCOUNT, "webhooks:account:" + account_id)
        count: int = await self.connection.fetchval(_COUNT_ENDPOINTS, account_id)
        if count >= limit:
            raise EndpointLimitReached(f"an account may have at most {limit} endpoints")
        row = await self.connection.fetchrow(
            _CREATE_ENDPOINT,
            endpoint_id,
            account_id,
            url,
            description,
            list(event_types),
            enabled,
            secret,
        )
        return endpoint_from_row(row)

    async def update_endpoint(
        self, endpoint_id: str, account_id: str, changes: Mapping[str, Any]
    ) -> Endpoint:
        values = dict(changes)
        if "event_types" in values:
            values["event_types"] = list(values["event_types"])
        if values.get("enabled") is True:
            # Enabling again is the account saying "it works now": forget the failing streak.
            values.update(_HEALTHY, disabled_reason=None)
            self.wake_dispatchers()
        elif values.get("enabled") is False:
            values["disabled_reason"] = DISABLED_BY_ACCOUNT
        unknown = values.keys() - _CHANGEABLE
        if unknown:
            raise ValueError(f"not an endpoint field: {sorted(unknown)}")
        columns = sorted(values)
        assignments = ", ".join(f"{column} = ${n}" for n, column in enumerate(columns, start=3))
        row = await self.connection.fetchrow(
            f"UPDATE endpoints SET {assignments}{', ' if assignments else ''}updated_at = now()"
            f" WHERE id = $1 AND account_id = $2 RETURNING {ENDPOINT_COLUMNS}",
            endpoint_id,
            account_id,
            *(values[column] for column in columns),
        )
        if row is None:
            raise EndpointNotFound(endpoint_id)
        return endpoint_from_row(row)

    async def delete_endpoint(self, endpoint_id: str, account_id: str) -> None:
        deleted = await self.connection.fetchval(_DELETE_ENDPOINT, endpoint_id, account_id)
        if deleted is None:
            raise EndpointNotFound(endpoint_id)

    async def rotate_secret(
        self, endpoint_id: str, account_id: str, new_secret: str, overlap: timedelta
    ) -> Endpoint:
        """Replace the secret; the old one keeps signing for ``overlap`` (a second rotation
        within the overlap drops the oldest secret: at most two are ever active)."""
        row = await self.connection.fetchrow(
            _ROTATE_SECRET, endpoint_id, account_id, new_secret, overlap
        )
        if row is None:
            raise EndpointNotFound(endpoint_id)
        return endpoint_from_row(row)

    async def endpoint_for_update(self, endpoint_id: str, account_id: str | None) -> Endpoint:
        """The endpoint, row-locked until commit (``account_id`` None: an operator, any account)."""
        self._in_transaction()
        row = await self.connection.fetchrow(_ENDPOINT_FOR_UPDATE, endpoint_id, account_id)
        if row is None:
            raise EndpointNotFound(endpoint_id)
        return endpoint_from_row(row)

    # --- messages and deliveries outside the intake ---

    async def add_message(self, message: NewMessage, endpoint_ids: Sequence[str]) -> bool:
        """Store the message once and a delivery per endpoint; False if it was stored before."""
        stored = await self.connection.fetchval(
            _ADD_MESSAGE,
            message.id,
            message.account_id,
            message.event_id,
            message.event_type,
            message.payload,
            json.dumps(dict(message.trace_headers)),
            list(endpoint_ids),
        )
        if stored is None:
            return False
        self.wake_dispatchers()
        return True

    async def resend(self, endpoint_id: str, account_id: str | None, message_id: str) -> str:
        """Start a new round of the schedule for one message to one endpoint; its new status."""
        endpoint = await self.endpoint_for_update(endpoint_id, account_id)
        owner = await self.connection.fetchval(_MESSAGE_OWNER, message_id)
        if owner != endpoint.account_id:
            raise MessageNotFound(message_id)
        # A delivery still pending is already going to be tried; it keeps its schedule.
        await self.connection.execute(_RESEND, message_id, endpoint_id)
        self.wake_dispatchers()
        return DeliveryStatus.PENDING.value

    async def recover(
        self, endpoint_id: str, account_id: str | None, since: datetime, until: datetime | None
    ) -> int:
        """Re-queue every failed delivery of the endpoint created in [since, until)."""
        await self.endpoint_for_update(endpoint_id, account_id)
        recovered: int = await self.connection.fetchval(_RECOVER, endpoint_id, since, until)
        if recovered:
            self.wake_dispatchers()
        return recovered

    # --- the events queue's bindings ---

    async def lock_bindings(self) -> None:
        """Wait for the bindings lock, which every process's reconcile takes, until commit."""
        self._in_transaction()
        await self.connection.execute("SELECT pg_advisory_xact_lock($1)", _BINDINGS_LOCK_KEY)

    async def subscribed_filters(self) -> list[tuple[str, ...]]:
        """The distinct filter lists of the enabled endpoints."""
        rows = await self.connection.fetch(_SUBSCRIBED_FILTERS)
        return [tuple(row["event_types"]) for row in rows]

    async def recorded_bindings(self) -> frozenset[str]:
        return frozenset(row["pattern"] for row in await self.connection.fetch(_BINDINGS))

    async def record_bindings(self, patterns: frozenset[str]) -> None:
        """Make the record exactly ``patterns``; a pattern bound before keeps its ``bound_at``."""
        await self.connection.execute(_RECORD_BINDINGS, sorted(patterns))


# --- the statements ---

_FLUSH = f"""
    WITH staged AS (
        INSERT INTO outbox (message_id, message_type, exchange, routing_key, body, headers)
        SELECT message_id, message_type, exchange, routing_key, body, headers::jsonb
        FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bytea[], $6::text[])
            WITH ORDINALITY
            AS v(message_id, message_type, exchange, routing_key, body, headers, position)
        ORDER BY position
        RETURNING 1
    )
    SELECT
        CASE WHEN EXISTS (SELECT 1 FROM staged) THEN pg_notify('{NOTIFY_CHANNEL}', '') END,
        CASE WHEN $7::boolean THEN pg_notify('{DELIVERIES_CHANNEL}', '') END
"""

_SUBSCRIPTIONS = "SELECT id, event_types FROM endpoints WHERE account_id = $1 AND enabled"

# A redelivered event finds its inbox record and writes nothing.
_FAN_OUT = f"""
    WITH fresh AS (
        INSERT INTO inbox (consumer, message_id) VALUES ($1, $2)
        ON CONFLICT DO NOTHING
        RETURNING 1
    ), message AS (
        INSERT INTO messages (id, account_id, event_id, event_type, payload, trace_headers)
        SELECT $3, $4, $2, $5, $6, $7::jsonb FROM fresh
        ON CONFLICT ON CONSTRAINT uq_messages_account_event DO NOTHING
        RETURNING id
    ), queued AS (
        INSERT INTO deliveries (message_id, endpoint_id)
        SELECT message.id, target FROM message, unnest($8::text[]) AS target
    )
    SELECT pg_notify('{DELIVERIES_CHANNEL}', '') FROM message
"""

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

# Every success of a batch in one statement.
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

_ENDPOINT_STATE = """
    SELECT account_id, enabled, circuit, consecutive_failures, open_until, failing_since,
           clock_timestamp() AS now
    FROM endpoints WHERE id = $1
"""
_ENDPOINT_STATE_LOCKED = _ENDPOINT_STATE + " FOR NO KEY UPDATE"

# A decision without a next attempt time keeps the one the delivery has.
_FINISH = """
    UPDATE deliveries
    SET status = $3, attempts = attempts + 1, round_attempts = round_attempts + 1,
        lease_until = NULL, lease_token = NULL, last_attempt_at = $4, updated_at = $4,
        next_attempt_at = COALESCE($5, next_attempt_at)
    WHERE id = $1 AND lease_token = $2
    RETURNING id
"""

_ADD_ATTEMPT = """
    INSERT INTO attempts (delivery_id, message_id, endpoint_id, attempt_number, started_at,
                          duration_ms, status_code, response_body, error, succeeded)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
"""

# A disabled_reason ($6) switches the endpoint off; without one, only its health changes.
_SAVE_HEALTH = """
    UPDATE endpoints
    SET circuit = $2, consecutive_failures = $3, open_until = $4, failing_since = $5,
        enabled = CASE WHEN $6::text IS NULL THEN enabled ELSE false END,
        disabled_reason = COALESCE($6, disabled_reason),
        updated_at = CASE WHEN $6::text IS NULL THEN updated_at ELSE now() END
    WHERE id = $1
"""

_PURGE_MESSAGES = """
    WITH purged AS (
        DELETE FROM messages m
        WHERE m.created_at < now() - $1::interval
          AND NOT EXISTS (
              SELECT 1 FROM deliveries d WHERE d.message_id = m.id AND d.status = 'pending')
        RETURNING 1
    )
    SELECT count(*) FROM purged
"""
_PURGE_INBOX = "DELETE FROM inbox WHERE processed_at < now() - $1::interval"

_LOCK_ACCOUNT = "SELECT pg_advisory_xact_lock(hashtext($1))"
_COUNT_ENDPOINTS = "SELECT count(*) FROM endpoints WHERE account_id = $1"
_CREATE_ENDPOINT = f"""
    INSERT INTO endpoints (id, account_id, url, description, event_types, enabled, secret)
    VALUES ($1, $2, $3, $4, $5, $6, $7)
    RETURNING {ENDPOINT_COLUMNS}
"""
_DELETE_ENDPOINT = "DELETE FROM endpoints WHERE id = $1 AND account_id = $2 RETURNING id"
_ROTATE_SECRET = f"""
    UPDATE endpoints
    SET secret = $3, previous_secret = secret, previous_secret_expires_at = now() + $4::interval,
        updated_at = now()
    WHERE id = $1 AND account_id = $2
    RETURNING {ENDPOINT_COLUMNS}
"""
# ``$2`` NULL: an operator, any account.
_ENDPOINT_FOR_UPDATE = f"""
    SELECT {ENDPOINT_COLUMNS} FROM endpoints
    WHERE id = $1 AND ($2::text IS NULL OR account_id = $2)
    FOR UPDATE
"""

_ADD_MESSAGE = """
    WITH message AS (
        INSERT INTO messages (id, account_id, event_id, event_type, payload, trace_headers)
        VALUES ($1, $2, $3, $4, $5, $6::jsonb)
        ON CONFLICT ON CONSTRAINT uq_messages_account_event DO NOTHING
        RETURNING id
    ), queued AS (
        INSERT INTO deliveries (message_id, endpoint_id)
        SELECT message.id, target FROM message, unnest($7::text[]) AS target
    )
    SELECT id FROM message
"""
_MESSAGE_OWNER = "SELECT account_id FROM messages WHERE id = $1"
_RESEND = """
    INSERT INTO deliveries (message_id, endpoint_id) VALUES ($1, $2)
    ON CONFLICT ON CONSTRAINT uq_deliveries_message_endpoint DO UPDATE
    SET status = 'pending', round_attempts = 0, next_attempt_at = now(), updated_at = now()
    WHERE deliveries.status <> 'pending'
"""
_RECOVER = """
    WITH recovered AS (
        UPDATE deliveries
        SET status = 'pending', round_attempts = 0, next_attempt_at = now(), updated_at = now()
        WHERE endpoint_id = $1 AND status = 'failed' AND created_at >= $2
          AND ($3::timestamptz IS NULL OR created_at < $3)
        RETURNING 1
    )
    SELECT count(*) FROM recovered
"""

_SUBSCRIBED_FILTERS = "SELECT DISTINCT event_types FROM endpoints WHERE enabled"
_BINDINGS = "SELECT pattern FROM event_bindings"
_RECORD_BINDINGS = """
    WITH wanted AS (SELECT unnest($1::text[]) AS pattern), dropped AS (
        DELETE FROM event_bindings WHERE pattern <> ALL ($1::text[])
    )
    INSERT INTO event_bindings (pattern) SELECT pattern FROM wanted
    ON CONFLICT DO NOTHING
"""
