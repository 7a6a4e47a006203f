"""The gateway's own database: accounts and their API keys (the credentials of record).

Only hashes of keys are stored. Redis caches what is read here (``key_cache``); this database is
what survives a Redis restart.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    MetaData,
    String,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

metadata = MetaData()

accounts = Table(
    "accounts",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("length(id) > 0", name="accounts_id_not_empty"),
)

api_keys = Table(
    "api_keys",
    metadata,
    # "key_" + the first 16 hex digits of the digest: derived from the key, so a request finds
    # its row (and its cache entry) without a second index.
    Column("key_id", String(20), primary_key=True),
    # SHA-256 of the key, hex. Compared in full: the key id alone is only 64 bits of it.
    Column("digest", String(64), nullable=False, unique=True),
    Column("account_id", String(64), ForeignKey("accounts.id"), nullable=False),
    Column("scopes", ARRAY(Text()), nullable=False),
    # Per-key request budgets (rate limits); NULL means the gateway's defaults.
    Column("rate_budgets", JSONB(), nullable=True),
    # Incremented by every change: caches keep the newest version they were told of.
    Column("version", BigInteger(), nullable=False, server_default=text("1")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Index("api_keys_account", "account_id", "created_at"),
)
