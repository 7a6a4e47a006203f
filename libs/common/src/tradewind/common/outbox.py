"""Transactional outbox and inbox.

The outbox makes "change state and emit an event" atomic: the event row is written in the same
transaction as the state change, and a relay publishes committed rows with confirms. Rows a crash
left behind are simply still unpublished, so the relay sends them on its next pass (at-least-once;
consumers deduplicate with the inbox). The W3C trace context of the transaction that wrote a row
is stored with it, so the published event continues the trace of the request that caused it.

The inbox makes consuming idempotent: the consumer records the message id in the same transaction
as the effect, and a redelivered message finds its id already there.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from contextlib import AsyncExitStack
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

import asyncpg
from opentelemetry import propagate
from pydantic import BaseModel
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from tradewind.common.broker import Broker, Outgoing
from tradewind.common.envelope import CloudEvent, encode_event
from tradewind.common.metrics import (
    OUTBOX_BACKLOG,
    OUTBOX_LAG,
    OUTBOX_PUBLISH_FAILURES,
    OUTBOX_PUBLISHED,
    export_outbox_backlog,
)
from tradewind.common.random_ids import random_uuid_text
from tradewind.common.tasks import start_background
from tradewind.common.wakeups import NotifyWakeup

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "tradewind_outbox"
# The backlog gauge counts unpublished rows up to this many: enough to tell "a few" from "piling
# up", and a bounded index scan even when the outbox holds millions.
BACKLOG_COUNT_CAP = 100_000


def outbox_table(metadata: MetaData) -> Table:
    return Table(
        "outbox",
        metadata,
        Column("id", BigInteger, Identity(), primary_key=True),
        Column("message_id", String(64), nullable=False, unique=True),
        Column("message_type", String(200), nullable=False),
        Column("exchange", String(255), nullable=False),
        Column("routing_key", String(255), nullable=False),
        Column("body", LargeBinary, nullable=False),
        Column("headers", JSONB, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("published_at", DateTime(timezone=True)),
        Column("attempts", Integer, nullable=False, server_default="0"),
        Column("last_error", Text),
        # Held away from the relays until then: the writer publishes the row itself
        # (outbox_handoff). NULL: the relay's at once.
        Column("relay_after", DateTime(timezone=True)),
        Index("ix_outbox_unpublished", "id", postgresql_where=text("published_at IS NULL")),
    )


def inbox_table(metadata: MetaData) -> Table:
    return Table(
        "inbox",
        metadata,
        Column("consumer", String(200), primary_key=True),
        Column("message_id", String(64), primary_key=True),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


class Outbox:
    def __init__(self, table: Table) -> None:
        self.table = table

    async def add(
        self,
        session: AsyncSession,
        event: CloudEvent,
        *,
        exchange: str,
        routing_key: str | None = None,
    ) -> None:
        """Stage ``event`` in the caller's transaction; the relay publishes it after commit."""
        message = outbox_message(event, exchange=exchange, routing_key=routing_key)
        await session.execute(insert(self.table).values(**asdict(message)))
        # Delivered to listeners only when the transaction commits.
        await session.execute(select(func.pg_notify(NOTIFY_CHANNEL, "")))


@dataclass(frozen=True)
class OutboxMessage:
    """An outbox row's values (columns in table order), for writers that bypass ``Outbox.add``."""

    message_id: str
    message_type: str
    exchange: str
    routing_key: str
    body: bytes
    headers: dict[str, str]

    def outgoing(self) -> Outgoing:
        """The message to publish."""
        return Outgoing(
            exchange=self.exchange,
            routing_key=self.routing_key,
            body=self.body,
            message_id=self.message_id,
            message_type=self.message_type,
            headers=self.headers,
        )

    def sql_params(self) -> tuple[str, str, str, str, bytes, str]:
        """Positional parameters for a raw INSERT (headers as JSON text)."""
        return (
            self.message_id,
            self.message_type,
            self.exchange,
            self.routing_key,
            self.body,
            json.dumps(self.headers),
        )


def outbox_message(
    event: CloudEvent, *, exchange: str, routing_key: str | None = None
) -> OutboxMessage:
    """``event`` as an outbox row, under the trace context of the transaction writing it."""
    headers: dict[str, str] = {}
    propagate.inject(headers)
    if event.traceparent is None and "traceparent" in headers:
        # The CloudEvents distributed-tracing extension: the trace survives even where AMQP
        # headers do not (a webhook body, a parked message exported to a file).
        event = event.model_copy(
            update={
                "traceparent": headers["traceparent"],
                "tracestate": headers.get("tracestate") or None,
            }
        )
    return OutboxMessage(
        message_id=event.id,
        message_type=event.type,
        exchange=exchange,
        routing_key=routing_key or event.type,
        body=event.to_json(),
        headers=headers,
    )


def event_message(
    data: BaseModel,
    *,
    event_type: str,
    source: str,
    exchange: str,
    time: datetime,
    subject: str | None = None,
    account_id: str | None = None,
    correlation_id: str | None = None,
    causation_id: str | None = None,
    event_id: str | None = None,
) -> OutboxMessage:
    """A new event about ``data`` as an outbox row, routed by its type: the row that
    ``outbox_message(new_event(...))`` builds, encoded in one pass (``encode_event``)."""
    headers: dict[str, str] = {}
    propagate.inject(headers)
    event_id = event_id or random_uuid_text()
    body = encode_event(
        data,
        event_id=event_id,
        source=source,
        event_type=event_type,
        time=time,
        subject=subject,
        extensions={
            "accountid": account_id,
            "correlationid": correlation_id,
            "causationid": causation_id,
            "traceparent": headers.get("traceparent"),
            "tracestate": headers.get("tracestate") or None,
        },
    )
    return OutboxMessage(
        message_id=event_id,
        message_type=event_type,
        exchange=exchange,
        routing_key=event_type,
        body=body,
        headers=headers,
    )


class Inbox:
    def __init__(self, table: Table, consumer: str) -> None:
        self.table = table
        self.consumer = consumer

    async def claim(self, session: AsyncSession, message_id: str) -> bool:
        """Record ``message_id`` in the caller's transaction; False if it was processed before."""
        result = await session.execute(
            pg_insert(self.table)
            .values(consumer=self.consumer, message_id=message_id)
            .on_conflict_do_nothing()
            .returning(self.table.c.message_id)
        )
        return result.first() is not None


class OutboxRelay:
    """Publishes committed outbox rows; safe to run in every instance (SKIP LOCKED).

    Each pass takes up to ``batch_size`` unpublished rows, locked, publishes them all with their
    confirms pipelined on one channel, and marks the confirmed ones published in the same
    transaction. It runs on plain asyncpg: per row it is on the hot path of every event. Rows a
    writer publishes itself (``outbox_handoff``) are skipped until their ``relay_after``.
    """

    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        broker: Broker,
        listen_dsn: str | None,
        batch_size: int = 200,
        poll_interval_s: float = 1.0,
        retention: timedelta = timedelta(hours=1),
        backlog_count_interval_s: float = 1.0,
    ) -> None:
        self.pool = pool
        self.broker = broker
        self.listen_dsn = listen_dsn
        self.batch_size = batch_size
        self.poll_interval_s = poll_interval_s
        self.retention = retention
        self.backlog_count_interval_s = backlog_count_interval_s
        self._wakeup = NotifyWakeup(listen_dsn, NOTIFY_CHANNEL)
        self._finishing = False
        self._backlog_counted_at: float | None = None
        export_outbox_backlog()

    async def run(self) -> None:
        """Publish until cancelled, or until ``finish`` was called and a pass that began after
        it found fewer rows than a batch (the outbox is flushed) or could not publish."""
        await self._wakeup.listen()
        passes = 0
        try:
            while True:
                # Read before the pass: a pass already running when ``finish`` was called may
                # not see the rows committed just before, so it cannot be the last.
                finishing = self._finishing
                self._wakeup.clear()
                try:
                    published = await self.publish_pending()
                except Exception:
                    log.exception("outbox relay pass failed")
                    published = 0
                if finishing and published < self.batch_size:
                    return
                passes += 1
                if passes % 600 == 0:
                    await self._purge_published()
                if published >= self.batch_size or self._finishing:
                    continue
                # A NOTIFY wakes us at once; the deadline also retries rows whose publish failed.
                await self._wakeup.wait(self.poll_interval_s)
        finally:
            await self._wakeup.close()

    def start(self, resources: AsyncExitStack, name: str, *, grace_s: float) -> asyncio.Task[None]:
        """Run in the background until ``resources`` closes; then flush what is committed
        (``finish``), for at most ``grace_s``. Start it before the work that writes outbox rows,
        so that on exit that work stops first and the last pass publishes what it wrote."""
        return start_background(resources, self.run(), name, finish=self.finish, grace_s=grace_s)

    def finish(self) -> None:
        """Shutting down: flush what is committed, then let ``run`` return. Call it once the
        work that writes outbox rows has stopped."""
        self._finishing = True
        self._wakeup.set()

    async def publish_pending(self) -> int:
        """One pass: publish up to ``batch_size`` rows; returns how many were confirmed."""
        async with self.pool.acquire() as connection, connection.transaction():
            rows = await connection.fetch(_CLAIM_UNPUBLISHED, self.batch_size)
            # How long the rows waited for a relay: the outbox-lag alert's series. Measured
            # from what this pass claimed, so it costs no query; a backlog or a broker that
            # refuses them makes it grow pass after pass, since failed rows are claimed again.
            OUTBOX_LAG.set(max((row["age_s"] for row in rows), default=0.0))
            if not rows:
                OUTBOX_BACKLOG.set(0)
                return 0
            outcomes = await self.broker.publish_many([_outgoing(row) for row in rows])
            confirmed = [
                row["id"] for row, outcome in zip(rows, outcomes, strict=True) if outcome is None
            ]
            failed = [
                (row["id"], outcome)
                for row, outcome in zip(rows, outcomes, strict=True)
                if outcome is not None
            ]
            if confirmed:
                await connection.execute(_MARK_PUBLISHED, confirmed)
            if failed:
                await connection.execute(
                    _RECORD_FAILURES,
                    [row_id for row_id, _ in failed],
                    [repr(error)[:2000] for _, error in failed],
                )
            await self._update_backlog(connection, claimed=len(rows), failed=len(failed))
        OUTBOX_PUBLISHED.inc(len(confirmed))
        if failed:
            OUTBOX_PUBLISH_FAILURES.inc(len(failed))
            log.warning(
                "outbox rows not published; will retry",
                extra={"failed": len(failed), "error": repr(failed[0][1])},
            )
        return len(confirmed)

    async def _update_backlog(
        self, connection: asyncpg.Connection, *, claimed: int, failed: int
    ) -> None:
        """Set the backlog gauge, counting only when the pass cannot tell.

        A pass that claimed less than a batch saw every row not locked by another relay: what is
        left is what it failed to publish, no query needed (the hot path stays one claim and one
        update). After a full batch more may wait: a capped count, at most once per interval,
        so a relay working through a backlog does not count it again at every pass.
        """
        if claimed < self.batch_size:
            OUTBOX_BACKLOG.set(failed)
            return
        now = time.monotonic()
        if (
            self._backlog_counted_at is not None
            and now - self._backlog_counted_at < self.backlog_count_interval_s
        ):
            return
        self._backlog_counted_at = now
        OUTBOX_BACKLOG.set(await connection.fetchval(_COUNT_BACKLOG, BACKLOG_COUNT_CAP))

    async def unpublished(self) -> int:
        """Rows committed but not yet confirmed by the broker (readiness, tests)."""
        async with self.pool.acquire() as connection:
            count: int = await connection.fetchval(_COUNT_UNPUBLISHED)
        return count

    async def _purge_published(self) -> None:
        async with self.pool.acquire() as connection:
            await connection.execute(_PURGE_PUBLISHED, self.retention)


def _outgoing(row: asyncpg.Record) -> Outgoing:
    return Outgoing(
        exchange=row["exchange"],
        routing_key=row["routing_key"],
        body=row["body"],
        message_id=row["message_id"],
        message_type=row["message_type"],
        headers=json.loads(row["headers"]),
    )


# The age is computed by PostgreSQL, on the clock that wrote created_at, so a skew between the
# database's clock and this host's cannot show as lag.
_CLAIM_UNPUBLISHED = """
    SELECT id, message_id, message_type, exchange, routing_key, body, headers::text AS headers,
           extract(epoch FROM clock_timestamp() - created_at)::float8 AS age_s
    FROM outbox
    WHERE published_at IS NULL AND (relay_after IS NULL OR relay_after <= now())
    ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED
"""
_MARK_PUBLISHED = "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])"
_RECORD_FAILURES = """
    UPDATE outbox SET attempts = attempts + 1, last_error = failure.error
    FROM unnest($1::bigint[], $2::text[]) AS failure(id, error)
    WHERE outbox.id = failure.id
"""
_COUNT_UNPUBLISHED = "SELECT count(*) FROM outbox WHERE published_at IS NULL"
# In the pass's transaction: the rows it has just marked published are no longer counted.
_COUNT_BACKLOG = """
    SELECT count(*) FROM (SELECT 1 FROM outbox WHERE published_at IS NULL LIMIT $1) AS waiting
"""
_PURGE_PUBLISHED = "DELETE FROM outbox WHERE published_at < now() - $1::interval"
