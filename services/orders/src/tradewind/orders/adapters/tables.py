"""The orders database as code: tables and indexes (Alembic's target, and what the schema test
compares the migrations with). The queries themselves are SQL in ``unit_of_work`` and ``reads``.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from tradewind.common.contracts.types import TERMINAL_STATUSES, OrderStatus, TimeInForce
from tradewind.common.outbox import inbox_table, outbox_table
from tradewind.orders.domain import WORKING_STATUSES


def _sql_list(values: Iterable[str]) -> str:
    """String constants (StrEnum members included) as a SQL list: 'a', 'b'."""
    return ", ".join(f"'{value}'" for value in sorted(str(value) for value in values))


WORKING = f"status IN ({_sql_list(WORKING_STATUSES)})"
"""An order that can still trade (and be canceled, replaced or expired)."""
OPEN = f"status NOT IN ({_sql_list(TERMINAL_STATUSES)})"
"""An order that is not terminal yet."""
RELEASING_CLIENT_ORDER_ID = (OrderStatus.REJECTED.value, OrderStatus.REPLACED.value)
"""Statuses whose order no longer holds its client_order_id."""
RESTING_TIME_IN_FORCE = f"time_in_force IN ({_sql_list([TimeInForce.DAY, TimeInForce.GTC])})"
DECIDED_BY_FIRST_QUOTE = f"time_in_force IN ({_sql_list([TimeInForce.IOC, TimeInForce.FOK])})"
NOT_STOP_PENDING = "(stop_price IS NULL OR stop_triggered_at IS NOT NULL)"
STOP_PENDING = "stop_price IS NOT NULL AND stop_triggered_at IS NULL"
TRAILING_PENDING = "type = 'trailing_stop' AND stop_triggered_at IS NULL"

# The price rank the matching indexes sort by, best first, as domain.limit_rank computes it: buys
# by descending limit, sells by ascending, a market order (no limit) before every limit.
BID_RANK = "(-COALESCE(limit_price, 'Infinity'::numeric))"
ASK_RANK = "(COALESCE(limit_price, '-Infinity'::numeric))"

TRACEPARENT = "traceparent"

metadata = MetaData()

orders = Table(
    "orders",
    metadata,
    Column("id", Uuid(as_uuid=True), primary_key=True),
    Column("account_id", String(128), nullable=False),
    Column("client_order_id", String(128)),
    Column("symbol", String(32), nullable=False),
    Column("side", String(16), nullable=False),
    Column("type", String(16), nullable=False),
    # Unconstrained NUMERIC keeps every digit the client sent.
    # NULL for a notional order until it trades (sized then).
    Column("qty", Numeric(asdecimal=True)),
    Column("limit_price", Numeric(asdecimal=True)),
    Column("stop_price", Numeric(asdecimal=True)),
    Column("time_in_force", String(16), nullable=False),
    Column("status", String(32), nullable=False),
    Column("filled_qty", Numeric(asdecimal=True), nullable=False),
    Column("filled_notional", Numeric(asdecimal=True), nullable=False),
    Column("submitted_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("accepted_at", DateTime(timezone=True)),
    Column("rejected_at", DateTime(timezone=True)),
    Column("canceled_at", DateTime(timezone=True)),
    Column("filled_at", DateTime(timezone=True)),
    Column("expired_at", DateTime(timezone=True)),
    Column("replaced_at", DateTime(timezone=True)),
    Column("stop_triggered_at", DateTime(timezone=True)),
    Column("replaces", Uuid(as_uuid=True)),
    Column("replaced_by", Uuid(as_uuid=True)),
    Column("reject_reason", String(64)),
    Column("version", Integer, nullable=False),
    # The W3C trace context the order was placed in, written once with the new order: a fill in
    # a later quote's trace links back to it. Not part of the domain's Order (ORDER_COLUMNS).
    Column(TRACEPARENT, String(128)),
    # Order classes (domain/order_classes.py): a bracket, oco or oto parent and its legs.
    Column("order_class", String(16), nullable=False, server_default="simple"),
    Column("parent_id", Uuid(as_uuid=True)),
    # A notional order's dollar amount; a trailing stop's trail and high-water mark (its current
    # stop is stop_price, kept in step with the mark).
    Column("notional", Numeric(asdecimal=True)),
    Column("trail_price", Numeric(asdecimal=True)),
    Column("trail_percent", Numeric(asdecimal=True)),
    Column("hwm", Numeric(asdecimal=True)),
    # What each unfilled unit of a working buy holds of the account's cash (migration 0009).
    Column("hold_price", Numeric(asdecimal=True)),
    # A rejected order keeps its client_order_id for the record but never blocks its reuse; a
    # replaced one hands it on to its replacement.
    Index(
        "uq_orders_account_client_order_id",
        "account_id",
        "client_order_id",
        unique=True,
        postgresql_where=text(
            "client_order_id IS NOT NULL AND status NOT IN "
            f"({_sql_list(RELEASING_CLIENT_ORDER_ID)})"
        ),
    ),
)
# Serves the listing: an account's orders newest first, (created_at, id) as the keyset.
Index(
    "ix_orders_account_created",
    orders.c.account_id,
    orders.c.created_at.desc(),
    orders.c.id.desc(),
)
# Matching (docs/orders.md, "What a quote reads"): resting day/gtc buys and sells in price-time
# priority, so a quote reads the ones its price reaches, best first, and stops at its size.
Index(
    "ix_orders_resting_bids",
    orders.c.symbol,
    text(BID_RANK),
    orders.c.created_at,
    orders.c.id,
    postgresql_where=text(
        f"side = 'buy' AND {WORKING} AND {RESTING_TIME_IN_FORCE} AND {NOT_STOP_PENDING}"
    ),
)
Index(
    "ix_orders_resting_asks",
    orders.c.symbol,
    text(ASK_RANK),
    orders.c.created_at,
    orders.c.id,
    postgresql_where=text(
        f"side = 'sell' AND {WORKING} AND {RESTING_TIME_IN_FORCE} AND {NOT_STOP_PENDING}"
    ),
)
# Stops not yet triggered, by stop price: a quote reads the ones it crosses.
Index(
    "ix_orders_pending_stops",
    orders.c.symbol,
    orders.c.side,
    orders.c.stop_price,
    postgresql_where=text(f"{WORKING} AND {STOP_PENDING}"),
)
# Trailing stops not yet triggered, by their mark: a quote reads those whose mark it moves (sells
# with hwm below its bid, buys with hwm above its ask); the ones it triggers come through
# ix_orders_pending_stops, since their stop_price is kept current. docs/orders.md, "Trailing
# stops", has the cost.
Index(
    "ix_orders_trailing_marks",
    orders.c.symbol,
    orders.c.side,
    orders.c.hwm,
    postgresql_where=text(f"{WORKING} AND {TRAILING_PENDING}"),
)
# ioc/fok orders waiting for their first quote (only when none was fresh on arrival).
Index(
    "ix_orders_waiting_ioc_fok",
    orders.c.symbol,
    postgresql_where=text(f"{WORKING} AND {DECIDED_BY_FIRST_QUOTE} AND {NOT_STOP_PENDING}"),
)
# Serves the session-end sweep: working day orders by submission time.
Index(
    "ix_orders_working_day_by_submitted",
    orders.c.submitted_at,
    postgresql_where=text(f"time_in_force = 'day' AND {WORKING}"),
)

# A parent's legs (its group), for reads and for the transactions that settle a group.
Index(
    "ix_orders_parent",
    orders.c.parent_id,
    postgresql_where=text("parent_id IS NOT NULL"),
)

# The kill switch finds an account's open orders without reading its closed ones.
Index(
    "ix_orders_open_by_account",
    orders.c.account_id,
    postgresql_where=text(OPEN),
)

# An account whose trading is blocked (the kill switch): no row, not blocked.
trading_blocks = Table(
    "trading_blocks",
    metadata,
    Column("account_id", String(128), primary_key=True),
    Column("reason", String(200), nullable=False),
    Column("blocked_by", String(16), nullable=False),
    Column("blocked_at", DateTime(timezone=True), nullable=False),
)

instruments = Table(
    "instruments",
    metadata,
    Column("symbol", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("tick_size", Numeric(asdecimal=True), nullable=False),
    Column("lot_size", Numeric(asdecimal=True), nullable=False),
    Column("currency", String(3), nullable=False),
    # Time of the newest instrument.listed applied: an older announcement never overwrites it.
    Column("listed_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# One row per symbol: the last quote processed and what is left of its size. Every transaction
# that changes a symbol's working orders locks it first (FOR UPDATE): the per-symbol mutex.
symbol_books = Table(
    "symbol_books",
    metadata,
    Column("symbol", String(32), primary_key=True),
    Column("last_sequence", BigInteger, nullable=False),
    Column("bid_price", Numeric(asdecimal=True)),
    Column("bid_size", Numeric(asdecimal=True)),
    Column("ask_price", Numeric(asdecimal=True)),
    Column("ask_size", Numeric(asdecimal=True)),
    Column("quoted_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("bid_available", Numeric(asdecimal=True)),
    Column("ask_available", Numeric(asdecimal=True)),
)

executions = Table(
    "executions",
    metadata,
    # uuid5(order id, quote sequence): a second fill of an order by the same quote cannot insert.
    Column("id", Uuid(as_uuid=True), primary_key=True),
    Column("order_id", Uuid(as_uuid=True), ForeignKey("orders.id"), nullable=False),
    Column("account_id", String(128), nullable=False),
    Column("symbol", String(32), nullable=False),
    Column("side", String(16), nullable=False),
    Column("qty", Numeric(asdecimal=True), nullable=False),
    Column("price", Numeric(asdecimal=True), nullable=False),
    Column("quote_sequence", BigInteger, nullable=False),
    Column("executed_at", DateTime(timezone=True), nullable=False),
    Index("ix_executions_order", "order_id"),
)
# Serves the activities listing and the statements: an account's fills newest first, keyset
# (executed_at, id).
Index(
    "ix_executions_account_executed",
    executions.c.account_id,
    executions.c.executed_at.desc(),
    executions.c.id.desc(),
)

# Background jobs (statements): one row per job id the gateway named, whatever the redeliveries.
jobs = Table(
    "jobs",
    metadata,
    Column("id", Uuid(as_uuid=True), primary_key=True),
    Column("account_id", String(128), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("params", JSONB, nullable=False),
    Column("priority", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("progress", Float, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("not_before", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    Column("error", Text),
    Column("result_rows", Integer),
    # The file itself: statements are at most a year of one account's fills, small enough for
    # a column (PostgreSQL TOASTs and compresses it), so the service needs no file store.
    Column("result", LargeBinary),
)
Index("ix_jobs_account_created", jobs.c.account_id, jobs.c.created_at.desc())

positions = Table(
    "positions",
    metadata,
    Column("account_id", String(128), primary_key=True),
    Column("symbol", String(32), primary_key=True),
    Column("qty", Numeric(asdecimal=True), nullable=False),
    Column("cost_basis", Numeric(asdecimal=True), nullable=False),
    Column("realized_pl", Numeric(asdecimal=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# The account ledger (migration 0009): one row per account, created with the initial cash when
# the account first places an order or moves cash. cash and held_for_orders are moved in the
# transaction of what moves them (a fill, an order's hold changing, a deposit); the row is the
# last lock any write path takes (docs/orders.md, "Concurrency").
account_ledgers = Table(
    "account_ledgers",
    metadata,
    Column("account_id", String(128), primary_key=True),
    Column("cash", Numeric(asdecimal=True), nullable=False),
    Column("held_for_orders", Numeric(asdecimal=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# Deposits and withdrawals (activities CSD and CSW); the id makes an operator's retry harmless.
cash_movements = Table(
    "cash_movements",
    metadata,
    Column("id", Uuid(as_uuid=True), primary_key=True),
    Column("account_id", String(128), nullable=False),
    Column("activity_type", String(8), nullable=False),
    Column("amount", Numeric(asdecimal=True), nullable=False),
    Column("description", String(200)),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
# Serves the activities listing, as ix_executions_account_executed does for fills.
Index(
    "ix_cash_movements_account_created",
    cash_movements.c.account_id,
    cash_movements.c.created_at.desc(),
    cash_movements.c.id.desc(),
)

# One row per account that ever had a trade update: the last number given. Advanced at flush, in
# the transaction that stages the events, so it serialises the account's numbering
# (adapters/account_sequences.py).
account_sequences = Table(
    "account_sequences",
    metadata,
    Column("account_id", String(128), primary_key=True),
    Column("last_sequence", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# The account's recent trade updates, by number: what a reconnecting stream client missed. The
# body is the published CloudEvent's JSON, byte for byte. Pruned to the newest N per account.
trade_updates = Table(
    "trade_updates",
    metadata,
    Column("account_id", String(128), primary_key=True),
    Column("sequence", BigInteger, primary_key=True),
    Column("event_id", String(64), nullable=False),
    Column("event_type", String(200), nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)

ORDER_COLUMNS: tuple[str, ...] = tuple(
    column.name for column in orders.columns if column.name != TRACEPARENT
)
"""The columns of the domain's Order, in table order; the trace context is the unit of work's."""
