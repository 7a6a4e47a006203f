"""The webhooks database: endpoints, messages (stored once), deliveries, attempts, the events
queue's bindings, outbox, inbox."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from tradewind.common.outbox import inbox_table, outbox_table

metadata = MetaData()

endpoints = Table(
    "endpoints",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", String(128), nullable=False),
    Column("url", Text, nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("event_types", ARRAY(Text), nullable=False, server_default="{}"),
    Column("enabled", Boolean, nullable=False, server_default=text("true")),
    Column("disabled_reason", Text),
    Column("secret", Text, nullable=False),
    Column("previous_secret", Text),
    Column("previous_secret_expires_at", DateTime(timezone=True)),
    # Circuit breaker and disable rule, shared by every process through this row.
    Column("circuit", String(16), nullable=False, server_default="closed"),
    Column("consecutive_failures", Integer, nullable=False, server_default="0"),
    Column("open_until", DateTime(timezone=True)),
    Column("failing_since", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("circuit IN ('closed', 'open')", name="ck_endpoints_circuit"),
    Index("ix_endpoints_account", "account_id", "id"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", String(40), primary_key=True),  # the webhook-id receivers deduplicate on
    Column("account_id", String(128), nullable=False),
    Column("event_id", String(128), nullable=False),
    Column("event_type", String(200), nullable=False),
    Column("payload", LargeBinary, nullable=False),  # the exact bytes that are signed and sent
    Column("trace_headers", JSONB, nullable=False, server_default="{}"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("account_id", "event_id", name="uq_messages_account_event"),
    Index("ix_messages_created", "created_at"),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("message_id", String(40), ForeignKey("messages.id", ondelete="CASCADE"), nullable=False),
    Column(
        "endpoint_id", String(40), ForeignKey("endpoints.id", ondelete="CASCADE"), nullable=False
    ),
    Column("status", String(16), nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    # Tries in the current round of the schedule; a resend or recover starts a new round.
    Column("round_attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("lease_until", DateTime(timezone=True)),
    Column("lease_token", String(40)),
    Column("last_attempt_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("message_id", "endpoint_id", name="uq_deliveries_message_endpoint"),
    CheckConstraint("status IN ('pending', 'succeeded', 'failed')", name="ck_deliveries_status"),
    Index(
        "ix_deliveries_due",
        "endpoint_id",
        "next_attempt_at",
        postgresql_where=text("status = 'pending'"),
    ),
    Index("ix_deliveries_next", "next_attempt_at", postgresql_where=text("status = 'pending'")),
    # Only leased (in-flight, or left behind by a crash) rows: counts attempts in flight cheaply.
    Index("ix_deliveries_leased", "endpoint_id", postgresql_where=text("lease_until IS NOT NULL")),
    Index("ix_deliveries_endpoint_status", "endpoint_id", "status", "created_at"),
)

attempts = Table(
    "attempts",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column(
        "delivery_id", BigInteger, ForeignKey("deliveries.id", ondelete="CASCADE"), nullable=False
    ),
    Column("message_id", String(40), nullable=False),
    Column("endpoint_id", String(40), nullable=False),
    Column("attempt_number", Integer, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("duration_ms", Integer, nullable=False),
    Column("status_code", Integer),
    Column("response_body", Text),
    Column("error", Text),
    Column("succeeded", Boolean, nullable=False),
    Index("ix_attempts_endpoint", "endpoint_id", "id"),
    Index("ix_attempts_message", "message_id", "id"),
    Index("ix_attempts_delivery", "delivery_id"),
)

# The topic bindings of the events queue, shared by every process: what the last reconcile bound
# (``bindings.EventBindings``). Broker bindings cannot be listed over AMQP, so this is the record.
event_bindings = Table(
    "event_bindings",
    metadata,
    Column("pattern", Text, primary_key=True),
    Column("bound_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
