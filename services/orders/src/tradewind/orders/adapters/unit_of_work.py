"""The unit of work of the orders write path: one transaction, every write path, plain asyncpg.

Commands (in batches), quotes, listings and the session-end sweep all change the database through
this one interface:

- **claim** message ids in the inbox (in bulk), and release a claim whose message will be retried;
- **lock accounts** whose orders a batch places or blocks (the kill switch), and read their blocks;
- **lock ledgers** (cash, held value) of a command batch's accounts, last, and move them by what
  the transaction did: fills move cash, orders' holds move the held value (``Order.held_value``);
- **load** what a decision needs — orders, books, listings, positions, client order ids in use,
  and the orders a quote can execute — locking what will change;
- **stage** new and changed orders, executions, positions, books and outbox rows in memory;
- **flush** them in one statement when the transaction ends; after commit the outbox rows are
  handed to ``OutboxHandoff``, which publishes them from memory at once (or, without one, one
  NOTIFY wakes the relay); trade updates are numbered per account just before
  (``account_sequences``: one statement, the last lock the transaction takes) and kept for
  clients that reconnect (``trade_updates``).

Staging in memory makes a batch see its own changes (a cancel after its place in the same batch
finds the order) and lets a batch of any size write in one round trip. Every order write checks
the version it was loaded at; a mismatch fails the whole transaction (it never happens while the
locks below are taken, but a logic error fails loudly instead of overwriting).

Locking, the same for every path (docs/orders.md, "Concurrency"): a command batch that places or
blocks first takes its accounts' advisory locks (shared to place, exclusive to block, in one key
order); a transaction that changes a symbol's existing orders then locks the symbol's book row,
then the order rows, then positions; books in symbol order. Account ledger rows come last of
all, in account order (a command batch locks them after its positions; a quote or the sweep only
when it writes them, at the flush). The session-end sweep alone takes order rows without the
book, and it never waits (SKIP LOCKED), so no two transactions can wait on each other in a cycle.

Plain asyncpg rather than SQLAlchemy: measured, the orders command path ran 206 commands/s with
SQLAlchemy Core and 599/s on asyncpg (docs/performance.md); the statements here are prepared once
per connection and carry a whole batch each.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import AsyncIterator, Collection, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, localcontext
from typing import Any
from uuid import UUID

import asyncpg
from sqlalchemy import BigInteger, DateTime, Integer, Numeric, String, Table, Uuid

from tradewind.common.contracts import Instrument, Quote, TradingBlockedBy
from tradewind.common.outbox import NOTIFY_CHANNEL, OutboxMessage
from tradewind.common.outbox_handoff import OutboxHandoff
from tradewind.common.trace_links import current_traceparent
from tradewind.orders import domain
from tradewind.orders.adapters.account_sequences import (
    NumberedUpdate,
    StagedEvent,
    number_events,
)
from tradewind.orders.adapters.rows import (
    Row,
    book_from_row,
    order_columns_of,
    order_from_row,
    position_from_row,
)
from tradewind.orders.adapters.tables import (
    ASK_RANK,
    BID_RANK,
    DECIDED_BY_FIRST_QUOTE,
    NOT_STOP_PENDING,
    OPEN,
    ORDER_COLUMNS,
    RELEASING_CLIENT_ORDER_ID,
    RESTING_TIME_IN_FORCE,
    STOP_PENDING,
    TRACEPARENT,
    TRAILING_PENDING,
    WORKING,
    executions,
    orders,
    positions,
    symbol_books,
)
from tradewind.orders.domain import EXACT, Execution, Order, Position, SymbolBook, order_classes
from tradewind.orders.domain.ledger import DEFAULT_INITIAL_CASH, Ledger, cash_change

PositionKey = tuple[str, str]
"""(account id, symbol)."""


class StaleOrder(RuntimeError):
    """An order changed since it was loaded; nothing of the transaction was written."""


@dataclass
class _Tracked:
    order: Order
    stored_version: int | None
    """The version in the database when loaded; None for an order new in this transaction."""
    locked: bool
    """Whether this transaction may change it: read FOR UPDATE, or new here."""


@dataclass
class _Staged:
    executions: list[Execution] = field(default_factory=list)
    positions: dict[PositionKey, Position] = field(default_factory=dict)
    books: dict[str, SymbolBook] = field(default_factory=dict)
    events: list[StagedEvent] = field(default_factory=list)
    released: list[tuple[str, str]] = field(default_factory=list)
    trading_blocks: dict[str, domain.TradingBlock | None] = field(default_factory=dict)
    """Blocks to save, by account; None: the account's block is lifted."""
    ledger_moves: dict[str, Ledger] = field(default_factory=dict)
    """What this transaction moved of each account's cash and held value (as deltas)."""


class OrdersUnitOfWork:
    """One transaction on one connection; ``begin`` opens it, flushes and commits."""

    def __init__(
        self,
        connection: asyncpg.Connection,
        *,
        initial_cash: Decimal = DEFAULT_INITIAL_CASH,
        handoff_lease_s: float | None = None,
    ) -> None:
        self.connection = connection
        self.initial_cash = initial_cash
        """The cash an account's ledger starts with when this transaction creates it."""
        self.handoff_lease_s = handoff_lease_s
        """Set when the events are handed off after commit: how long relays leave them alone.
        None: the relay publishes them (NOTIFY)."""
        self.flushed_events: list[OutboxMessage] = []
        """The outbox rows this transaction wrote, in order."""
        self._ledgers: dict[str, Ledger] = {}
        self._orders: dict[UUID, _Tracked] = {}
        self._placed_in: dict[UUID, str | None] = {}
        self._books: dict[str, SymbolBook] = {}
        self._locked_books: set[str] = set()
        self._listings: dict[str, tuple[Decimal, Decimal]] = {}
        """Listed symbols' (tick size, lot size)."""
        self._positions: dict[PositionKey, Position | None] = {}
        self._client_order_id_holders: dict[tuple[str, str], set[UUID]] = {}
        self._by_client_order_id: defaultdict[tuple[str, str], set[UUID]] = defaultdict(set)
        self._trading_blocks: dict[str, domain.TradingBlock | None] = {}
        self._staged = _Staged()

    @classmethod
    @asynccontextmanager
    async def begin(
        cls,
        pool: asyncpg.Pool,
        *,
        initial_cash: Decimal = DEFAULT_INITIAL_CASH,
        handoff: OutboxHandoff | None = None,
    ) -> AsyncIterator[OrdersUnitOfWork]:
        """A transaction: what is staged is flushed and committed when the block ends normally,
        and nothing is written if it raises. ``initial_cash``: the setting, for a ledger this
        transaction creates. ``handoff``: publishes the transaction's events once it has
        committed; without one, the relay does."""
        lease_s = handoff.lease_s if handoff is not None else None
        async with pool.acquire() as connection, connection.transaction():
            unit = cls(connection, initial_cash=initial_cash, handoff_lease_s=lease_s)
            yield unit
            await unit.flush()
        if handoff is not None:
            handoff.hand_off(unit.flushed_events)

    # --- inbox ---

    async def claim(self, consumer: str, message_ids: Sequence[str]) -> set[str]:
        """Record the ids as processed by ``consumer``; returns those not processed before."""
        if not message_ids:
            return set()
        rows = await self.connection.fetch(_CLAIM, consumer, list(message_ids))
        return {row["message_id"] for row in rows}

    def release(self, consumer: str, message_id: str) -> None:
        """Undo a claim in this transaction: the message will be handled again later."""
        self._staged.released.append((consumer, message_id))

    # --- accounts: trading blocks (the kill switch) ---

    async def lock_accounts(self, *, placing: Collection[str], blocking: Collection[str]) -> None:
        """Take the accounts' locks: shared for a batch that places or replaces their orders,
        exclusive for one that blocks or unblocks them, before any other lock.

        So a block waits for the batches placing the account's orders to commit, and then sees
        their orders to cancel them; a batch placing after it waits and then sees the block.
        """
        exclusive = set(blocking)
        accounts = sorted(set(placing) | exclusive)
        if accounts:
            await self.connection.execute(
                _LOCK_ACCOUNTS, accounts, [account in exclusive for account in accounts]
            )

    async def read_committed(
        self,
        *,
        trading_blocks_of: Collection[str] = (),
        orders: Collection[UUID] = (),
        client_order_ids: Collection[tuple[str, str]] = (),
        markets: Collection[str] = (),
        markets_of_orders: Collection[UUID] = (),
    ) -> None:
        """What decisions read as committed, none of it locked, in one round trip (and so one
        snapshot): the accounts' trading blocks, orders by id, the orders holding these
        (account id, client order id) pairs, and the market — listing and book — of the
        symbols and of the orders' symbols (``markets_of_orders``: ids among ``orders``).

        A command batch reads it right after its accounts' locks, so it sees every block and
        order committed before them. One statement instead of one per kind, so a batch holds
        those locks for fewer round trips (measured, it saves little CPU: docs/performance.md)."""
        blocks_wanted = sorted(set(trading_blocks_of) - self._trading_blocks.keys())
        orders_wanted = [order_id for order_id in orders if order_id not in self._orders]
        holders_wanted = [
            key for key in client_order_ids if key not in self._client_order_id_holders
        ]
        markets_wanted = [symbol for symbol in markets if symbol not in self._books]
        if not (
            blocks_wanted or orders_wanted or holders_wanted or markets_wanted or markets_of_orders
        ):
            return
        row = await self.connection.fetchrow(
            _COMMITTED,
            blocks_wanted,
            orders_wanted,
            [key[0] for key in holders_wanted],
            [key[1] for key in holders_wanted],
            markets_wanted,
            list(markets_of_orders),
        )
        for account in blocks_wanted:
            self._trading_blocks[account] = None
        for block in row["blocks"]:
            self._trading_blocks[block["account_id"]] = domain.TradingBlock(
                block["account_id"],
                block["reason"],
                TradingBlockedBy(block["blocked_by"]),
                block["blocked_at"],
            )
        for order_row in row["orders"]:
            self._track_row(order_row, locked=False)
        for key in holders_wanted:
            self._client_order_id_holders[key] = set()
        for holder in row["holders"]:
            key = (holder["account_id"], holder["client_order_id"])
            self._client_order_id_holders[key].add(holder["id"])
            self._track_row(holder, locked=False)
        for fields in row["market"]:
            market = dict(zip(_MARKET_FIELDS, fields, strict=True))
            if market["symbol"] in self._books:
                continue
            if market["listed"]:
                self._listings[market["symbol"]] = (market["tick_size"], market["lot_size"])
            if market["last_sequence"] is not None:
                self._books[market["symbol"]] = book_from_row(market)

    def trading_block(self, account_id: str) -> domain.TradingBlock | None:
        if account_id not in self._trading_blocks:
            raise LookupError(f"the trading block of {account_id!r} was not loaded")
        return self._trading_blocks[account_id]

    def save_trading_block(self, account_id: str, block: domain.TradingBlock | None) -> None:
        """Stage the account's block (None: lifted)."""
        self.trading_block(account_id)
        self._trading_blocks[account_id] = block
        self._staged.trading_blocks[account_id] = block

    async def open_orders_of_accounts(self, account_ids: Collection[str]) -> set[UUID]:
        """Ids of the accounts' open orders (not locked: lock them with ``load_orders``)."""
        if not account_ids:
            return set()
        rows = await self.connection.fetch(_OPEN_ORDERS_OF_ACCOUNTS, sorted(account_ids))
        return {row["id"] for row in rows}

    def open_orders_of(self, account_id: str) -> list[Order]:
        """The account's open orders this transaction may change: locked, or new here."""
        return [
            tracked.order
            for tracked in self._orders.values()
            if tracked.locked and tracked.order.account_id == account_id and tracked.order.is_open
        ]

    # --- accounts: ledgers (cash and held value) ---

    async def lock_ledgers(self, account_ids: Collection[str]) -> None:
        """Lock the accounts' ledgers (created with the initial cash if new), in account order:
        the last lock a command batch takes, after its positions."""
        wanted = sorted(set(account_ids) - self._ledgers.keys())
        if not wanted:
            return
        for row in await self.connection.fetch(_LOCK_LEDGERS, wanted, self.initial_cash):
            self._ledgers[row["account_id"]] = Ledger(
                row["account_id"], row["cash"], row["held_for_orders"]
            )

    def ledger(self, account_id: str) -> Ledger:
        """The account's ledger as this transaction leaves it so far (locked first)."""
        locked = self._ledgers.get(account_id)
        if locked is None:
            raise LookupError(f"the ledger of {account_id!r} was not locked")
        moved = self._staged.ledger_moves.get(account_id)
        if moved is None:
            return locked
        return locked.moved(cash=moved.cash, held=moved.held_for_orders)

    def _move_ledger(self, account_id: str, *, cash: Decimal = Decimal(0), held: Decimal) -> None:
        if not cash and not held:
            return
        moves = self._staged.ledger_moves
        moves[account_id] = moves.get(account_id, Ledger(account_id, Decimal(0))).moved(
            cash=cash, held=held
        )

    # --- loading ---

    async def load_orders(self, order_ids: Collection[UUID], *, lock: bool) -> None:
        """Load orders by id into this unit (``lock``: FOR UPDATE, after their books)."""
        wanted = [order_id for order_id in order_ids if order_id not in self._orders or lock]
        if not wanted:
            return
        rows = await self.connection.fetch(_LOCK_ORDERS if lock else _ORDERS, wanted)
        for row in rows:
            self._track_row(row, locked=lock)

    def order(self, order_id: UUID) -> Order | None:
        """The order as this transaction sees it: loaded, new or changed here."""
        tracked = self._orders.get(order_id)
        return None if tracked is None else tracked.order

    def changeable(self, order_id: UUID) -> Order | None:
        """The order, if this transaction may change it (it was locked, or is new here)."""
        tracked = self._orders.get(order_id)
        return tracked.order if tracked is not None and tracked.locked else None

    def order_exists(self, order_id: UUID) -> bool:
        return order_id in self._orders

    def placed_in(self, order_id: UUID) -> str | None:
        """The W3C traceparent of the work that placed the order (None: unknown, or placed
        before orders kept it). Known for every order this unit loaded or added: it comes with
        the order's row, at no extra query."""
        return self._placed_in.get(order_id)

    def client_order_id_in_use(self, account_id: str, client_order_id: str) -> bool:
        """Whether an order of the account holds the id, as of this transaction's changes."""
        key = (account_id, client_order_id)
        if key not in self._client_order_id_holders:
            raise LookupError(f"client order id {key} was not loaded")
        candidates = self._client_order_id_holders[key] | self._by_client_order_id[key]
        return any(self._holds_client_order_id(order_id, key) for order_id in candidates)

    def is_listed(self, symbol: str) -> bool:
        return symbol in self._listings

    async def load_listings(self, symbols: Collection[str]) -> None:
        """The symbols' listings (their increments) alone, for a transaction that already
        holds their books."""
        wanted = [s for s in symbols if s not in self._listings]
        if wanted:
            for row in await self.connection.fetch(_LISTINGS, wanted):
                self._listings[row["symbol"]] = (row["tick_size"], row["lot_size"])

    def lot_size(self, symbol: str) -> Decimal | None:
        """The listed lot size of ``symbol`` (loaded by ``load_market`` or ``load_listings``),
        if listed."""
        listing = self._listings.get(symbol)
        return None if listing is None else listing[1]

    def market_view(self, symbol: str) -> domain.MarketView:
        """What an arriving order of ``symbol`` is checked against: its listing (and the
        increments it must keep) and the book's last quote, as loaded by ``load_market``."""
        listing = self._listings.get(symbol)
        return self.book(symbol).market_view(
            listed=listing is not None,
            tick_size=None if listing is None else listing[0],
            lot_size=None if listing is None else listing[1],
        )

    async def lock_books(self, symbols: Collection[str]) -> None:
        """Lock the books (created empty if missing), in symbol order: the per-symbol mutex."""
        wanted = sorted(set(symbols) - self._locked_books)
        if not wanted:
            return
        rows = await self.connection.fetch(_LOCK_BOOKS, wanted)
        missing = set(wanted) - {row["symbol"] for row in rows}
        if missing:
            await self.connection.execute(_CREATE_BOOKS, sorted(missing))
            rows = await self.connection.fetch(_LOCK_BOOKS, wanted)
        for row in rows:
            self._books[row["symbol"]] = book_from_row(row)
        self._locked_books.update(wanted)

    def book(self, symbol: str) -> SymbolBook:
        """The symbol's book as this transaction sees it; empty if it was never quoted."""
        staged = self._staged.books.get(symbol)
        if staged is not None:
            return staged
        return self._books.get(symbol) or SymbolBook(symbol)

    def holds_book(self, symbol: str) -> bool:
        """Whether this transaction locked the symbol's book (may trade it)."""
        return symbol in self._locked_books

    async def lock_positions(self, keys: Collection[PositionKey]) -> None:
        """Lock the positions (missing ones are flat): only under the symbol's book lock."""
        wanted = sorted(set(keys) - self._positions.keys())
        if not wanted:
            return
        for key in wanted:
            self._positions[key] = None
        rows = await self.connection.fetch(
            _LOCK_POSITIONS, [k[0] for k in wanted], [k[1] for k in wanted]
        )
        for row in rows:
            self._positions[(row["account_id"], row["symbol"])] = position_from_row(row)

    def positions_of(self, symbol: str, account_ids: Iterable[str]) -> dict[str, Position]:
        """The accounts' current positions in ``symbol`` (missing: flat), as ``settle`` wants."""
        held: dict[str, Position] = {}
        for account_id in account_ids:
            key = (account_id, symbol)
            if key not in self._positions:
                raise LookupError(f"position {key} was not locked")
            position = self._staged.positions.get(key) or self._positions[key]
            if position is not None:
                held[account_id] = position
        return held

    async def executable_orders(self, quote: Quote, page_size: int = 64) -> list[Order]:
        """The working orders ``quote`` can change, locked; the rest of the book is not read.

        Pending stops it crosses (trailing ones included: their stop_price is current), trailing
        stops whose mark it moves, and ioc/fok orders waiting for their first quote, all of them;
        resting day/gtc orders its price reaches, per side in price-time priority, page by page
        until their remainders cover the side's size (domain.liquidity_covered). One statement
        reads all of it but further pages, which only a quote bigger than a page of orders needs.
        """
        first, args = _first_candidates(quote, page_size)
        rows = await self.connection.fetch(first, *args)
        found: list[Order] = []
        resting: dict[str, list[Order]] = {"bid": [], "ask": []}
        for row in rows:
            order = self._loaded(row)
            found.append(order)
            if row["part"] in resting:
                resting[row["part"]].append(order)
        for part, statement, reached, size in (
            ("bid", _RESTING_BIDS, -quote.ask_price, quote.ask_size),
            ("ask", _RESTING_ASKS, quote.bid_price, quote.bid_size),
        ):
            page = sorted(resting[part], key=domain.price_time_priority)
            loaded = list(page)
            while len(page) == page_size and not domain.liquidity_covered(loaded, size):
                last = page[-1]
                after = (domain.limit_rank(last), last.created_at, last.id)
                page = await self._fetch_orders(statement, quote.symbol, reached, *after, page_size)
                loaded += page
                found += page
        return found

    # --- order classes: a parent and its legs ---

    async def lock_groups(self, orders_in_groups: Iterable[Order]) -> None:
        """Lock every order of the groups (bracket, oco, oto) these orders belong to, under
        their symbol's book lock (a group has one symbol): a fill, a cancel or an expiry of one
        order settles the others in the same transaction (domain/order_classes.py)."""
        keys = {key for key in map(order_classes.group_key, orders_in_groups) if key is not None}
        if keys:
            await self._fetch_orders(_LOCK_GROUPS, sorted(keys))

    async def lock_legs_skip_locked(self, parent_ids: Collection[UUID]) -> None:
        """Lock the parents' legs that no other transaction holds (the session-end sweep,
        which never waits); ``group`` tells whether a group came complete."""
        if parent_ids:
            await self._fetch_orders(_LOCK_LEGS_SKIP_LOCKED, sorted(parent_ids))

    def group(self, order: Order) -> order_classes.OrderGroup | None:
        """The locked group ``order`` belongs to, as this transaction sees it; None for a
        simple order, or a group this transaction did not lock whole."""
        key = order_classes.group_key(order)
        if key is None:
            return None
        members = [
            tracked.order
            for tracked in self._orders.values()
            if tracked.locked and order_classes.group_key(tracked.order) == key
        ]
        group = order_classes.groups_of(members).get(key)
        return group if group is not None and group.complete else None

    async def day_orders_due(self, session_end_at: datetime, limit: int) -> list[Order]:
        """Working day orders submitted before ``session_end_at``, locked; rows another
        transaction holds (being filled, canceled, or swept elsewhere) are skipped."""
        return await self._fetch_orders(_DAY_ORDERS_DUE, session_end_at, limit)

    # --- immediate writes ---

    async def record_listing(self, instrument: Instrument, *, listed_at: datetime) -> bool:
        """Insert or update the instrument; False if a newer listing was applied already."""
        row = await self.connection.fetchrow(
            _RECORD_LISTING,
            instrument.symbol,
            instrument.name,
            instrument.tick_size,
            instrument.lot_size,
            instrument.currency,
            listed_at,
        )
        return row is not None

    # --- staging ---

    def add(self, order: Order) -> None:
        """A new order (its final state in this transaction is what is inserted), stored with
        the trace context current now: the trace it is placed in, which its fills link to."""
        if order.id in self._orders:
            raise ValueError(f"order {order.id} already exists")
        self._orders[order.id] = _Tracked(order, stored_version=None, locked=True)
        self._placed_in[order.id] = current_traceparent()
        self._index_client_order_id(order)
        self._move_ledger(order.account_id, held=order.held_value)

    def update(self, order: Order) -> None:
        """A changed order, locked or added in this transaction."""
        tracked = self._orders.get(order.id)
        if tracked is None or not tracked.locked:
            raise LookupError(f"order {order.id} was not locked by this transaction")
        with localcontext(EXACT):
            held = order.held_value - tracked.order.held_value
        self._move_ledger(order.account_id, held=held)
        tracked.order = order
        self._index_client_order_id(order)

    def add_executions(self, new_executions: Iterable[Execution]) -> None:
        """New fills; each moves its account's cash (the order's hold moves with the order)."""
        for execution in new_executions:
            self._staged.executions.append(execution)
            self._move_ledger(execution.account_id, cash=cash_change(execution), held=Decimal(0))

    def save_positions(self, changed: Iterable[Position]) -> None:
        for position in changed:
            self._staged.positions[(position.account_id, position.symbol)] = position

    def save_book(self, book: SymbolBook) -> None:
        if book.symbol not in self._locked_books:
            raise LookupError(f"the book of {book.symbol} is not locked")
        self._staged.books[book.symbol] = book

    def stage(self, event: StagedEvent) -> None:
        """An event for the relay to publish once this transaction commits (a trade update is
        numbered in its account's sequence when the transaction flushes)."""
        self._staged.events.append(event)

    # --- flushing ---

    async def flush(self) -> None:
        """Write everything staged in one statement (and NOTIFY the relay if events were and
        are not handed off)."""
        new = [t.order for t in self._orders.values() if t.stored_version is None]
        changed = [
            t
            for t in self._orders.values()
            if t.stored_version is not None and t.order.version != t.stored_version
        ]
        staged = self._staged
        nothing_staged = not any(
            (staged.executions, staged.positions, staged.books, staged.events, staged.released)
        )
        if staged.trading_blocks:
            await self._write_trading_blocks(staged.trading_blocks)
        # Ledgers this transaction locked already (a command batch's) move in the flush
        # statement; others (a quote's, the sweep's) are locked here, in account order, before
        # the counters that numbering locks next.
        moved_in_flush: dict[str, Ledger] = {}
        locked_here: dict[str, Ledger] = {}
        for account, move in staged.ledger_moves.items():
            (moved_in_flush if account in self._ledgers else locked_here)[account] = move
        if locked_here:
            await self._move_ledgers(locked_here)
        if not new and not changed and nothing_staged and not moved_in_flush:
            self._staged = _Staged()
            return
        events, numbered = await number_events(self.connection, staged.events)
        changed_count = await self.connection.fetchval(
            _FLUSH,
            *order_columns_of(new),
            [self._placed_in.get(order.id) for order in new],
            *order_columns_of([t.order for t in changed]),
            [t.stored_version for t in changed],
            *_execution_columns(staged.executions),
            *_position_columns(staged.positions.values()),
            *_book_columns(staged.books.values()),
            *_event_columns(events),
            *_numbered_columns(numbered),
            *_ledger_move_columns(moved_in_flush),
            [consumer for consumer, _ in staged.released],
            [message_id for _, message_id in staged.released],
            self.handoff_lease_s,
            bool(staged.events) and self.handoff_lease_s is None,
        )
        if changed_count != len(changed):
            raise StaleOrder(
                f"{len(changed) - changed_count} of {len(changed)} orders changed since loaded"
            )
        self._moved(moved_in_flush)
        self.flushed_events.extend(events)
        for tracked in changed:
            tracked.stored_version = tracked.order.version
        for order in new:
            self._orders[order.id].stored_version = order.version
        self._staged = _Staged()

    # --- internals ---

    async def _move_ledgers(self, moves: dict[str, Ledger]) -> None:
        # Ledgers not locked yet (a quote's or the sweep's, which fill or release holds): the
        # last lock those transactions take but the counters, in account order.
        accounts = sorted(moves)
        await self.connection.execute(
            _MOVE_LEDGERS,
            accounts,
            [moves[account].cash for account in accounts],
            [moves[account].held_for_orders for account in accounts],
            self.initial_cash,
        )
        self._moved(moves)

    def _moved(self, moves: dict[str, Ledger]) -> None:
        """The locked ledgers as ``moves`` left them in the database."""
        for account, move in moves.items():
            locked = self._ledgers.get(account)
            if locked is not None:
                self._ledgers[account] = locked.moved(cash=move.cash, held=move.held_for_orders)

    async def _write_trading_blocks(self, blocks: dict[str, domain.TradingBlock | None]) -> None:
        # Rare (an account's kill switch): statements of their own, not in the flush statement.
        saved = [block for block in blocks.values() if block is not None]
        lifted = [account for account, block in blocks.items() if block is None]
        if saved:
            await self.connection.execute(
                _SAVE_TRADING_BLOCKS,
                [block.account_id for block in saved],
                [block.reason for block in saved],
                [block.blocked_by.value for block in saved],
                [block.blocked_at for block in saved],
            )
        if lifted:
            await self.connection.execute(_LIFT_TRADING_BLOCKS, lifted)

    def _track_row(self, row: Row, *, locked: bool) -> Order:
        """Track an order read from its row, with the trace context it was placed in."""
        order = order_from_row(row)
        self._placed_in[order.id] = row[TRACEPARENT]
        self._track_loaded(order, locked=locked)
        return order

    def _track_loaded(self, order: Order, *, locked: bool) -> None:
        tracked = self._orders.get(order.id)
        if tracked is None or tracked.stored_version == tracked.order.version:
            # New here, or not changed here yet: a locking read replaces an earlier plain read.
            locked = locked or (tracked is not None and tracked.locked)
            self._orders[order.id] = _Tracked(order, stored_version=order.version, locked=locked)
            self._index_client_order_id(order)

    def _index_client_order_id(self, order: Order) -> None:
        if order.client_order_id is not None:
            self._by_client_order_id[(order.account_id, order.client_order_id)].add(order.id)

    def _holds_client_order_id(self, order_id: UUID, key: tuple[str, str]) -> bool:
        tracked = self._orders.get(order_id)
        if tracked is None:
            return True  # a holder the database reported and this transaction did not touch
        order = tracked.order
        return (
            order.account_id,
            order.client_order_id,
        ) == key and order.status.value not in RELEASING_CLIENT_ORDER_ID

    async def _fetch_orders(self, statement: str, *args: Any) -> list[Order]:
        """Orders a locking statement (FOR UPDATE) read."""
        rows = await self.connection.fetch(statement, *args)
        return [self._loaded(row) for row in rows]

    def _loaded(self, row: Row) -> Order:
        """Track an order read FOR UPDATE; what this unit sees of it (its own changes win over
        the stored row)."""
        order = self._track_row(row, locked=True)
        return self._orders[order.id].order


# --- SQL ---

_NEGATIVE_INFINITY = Decimal("-Infinity")
_EARLIEST = datetime.min.replace(tzinfo=UTC)
_NIL = UUID(int=0)


def _pg_type(table: Table, name: str) -> str:
    column_type = table.c[name].type
    for python_type, pg in (
        (Uuid, "uuid"),
        (BigInteger, "bigint"),
        (Integer, "integer"),
        (Numeric, "numeric"),
        (DateTime, "timestamptz"),
        (String, "text"),
    ):
        if isinstance(column_type, python_type):
            return pg
    raise TypeError(f"no array type for {table.name}.{name}: {column_type!r}")


class _Params:
    """Numbers the positional parameters of one statement as its parts are written."""

    def __init__(self) -> None:
        self.count = 0

    def arrays(self, table: Table, names: Sequence[str]) -> str:
        """``$n::type[], ...`` for ``names``, ready for ``unnest``."""
        parts = []
        for name in names:
            self.count += 1
            parts.append(f"${self.count}::{_pg_type(table, name)}[]")
        return ", ".join(parts)

    def one(self, cast: str) -> str:
        self.count += 1
        return f"${self.count}::{cast}"


_ORDER_SETS = ", ".join(ORDER_COLUMNS[1:])
_ORDER_VALUES = ", ".join(f"v.{name}" for name in ORDER_COLUMNS[1:])
_EXECUTION_COLUMNS = tuple(column.name for column in executions.columns)
_POSITION_COLUMNS = tuple(column.name for column in positions.columns)
_BOOK_COLUMNS = (
    "symbol",
    "last_sequence",
    "bid_price",
    "bid_size",
    "ask_price",
    "ask_size",
    "quoted_at",
    "bid_available",
    "ask_available",
)
_OUTBOX_COLUMNS = ("message_id", "message_type", "exchange", "routing_key", "body", "headers")


def _flush_statement() -> str:
    p = _Params()
    new_orders = p.arrays(orders, ORDER_COLUMNS)
    new_traceparents = p.one("text[]")
    changed_orders = p.arrays(orders, ORDER_COLUMNS)
    expected_versions = p.one("integer[]")
    new_executions = p.arrays(executions, _EXECUTION_COLUMNS)
    saved_positions = p.arrays(positions, _POSITION_COLUMNS)
    saved_books = p.arrays(symbol_books, _BOOK_COLUMNS)
    events = ", ".join(
        p.one(cast) for cast in ("text[]", "text[]", "text[]", "text[]", "bytea[]", "text[]")
    )
    numbered = ", ".join(p.one(cast) for cast in ("bigint[]", "text[]", "bigint[]"))
    ledger_moves = ", ".join(p.one(cast) for cast in ("text[]", "numeric[]", "numeric[]"))
    released_consumers, released_ids = p.one("text[]"), p.one("text[]")
    relay_lease_s = p.one("float8")
    notify = p.one("boolean")
    position_updates = ", ".join(
        f"{name} = EXCLUDED.{name}" for name in ("qty", "cost_basis", "realized_pl", "updated_at")
    )
    book_sets = ", ".join(f"{name} = v.{name}" for name in _BOOK_COLUMNS[1:])
    return f"""
    WITH new_orders AS (
        INSERT INTO orders ({", ".join(ORDER_COLUMNS)}, {TRACEPARENT})
        SELECT * FROM unnest({new_orders}, {new_traceparents})
    ), changed AS (
        UPDATE orders AS o SET ({_ORDER_SETS}) = ({_ORDER_VALUES})
        FROM unnest({changed_orders}, {expected_versions})
            AS v({", ".join(ORDER_COLUMNS)}, expected_version)
        WHERE o.id = v.id AND o.version = v.expected_version
        RETURNING o.id
    ), new_executions AS (
        INSERT INTO executions ({", ".join(_EXECUTION_COLUMNS)})
        SELECT * FROM unnest({new_executions})
    ), saved_positions AS (
        INSERT INTO positions ({", ".join(_POSITION_COLUMNS)})
        SELECT * FROM unnest({saved_positions})
        ON CONFLICT (account_id, symbol) DO UPDATE SET {position_updates}
    ), saved_books AS (
        UPDATE symbol_books AS b SET {book_sets}, updated_at = now()
        FROM unnest({saved_books}) AS v({", ".join(_BOOK_COLUMNS)})
        WHERE b.symbol = v.symbol
    ), staged AS (
        INSERT INTO outbox ({", ".join(_OUTBOX_COLUMNS)}, relay_after)
        SELECT message_id, message_type, exchange, routing_key, body, headers::jsonb,
            now() + make_interval(secs => {relay_lease_s})
        FROM unnest({events}) WITH ORDINALITY
            AS v(message_id, message_type, exchange, routing_key, body, headers, position)
        ORDER BY position
    ), recorded_updates AS (
        INSERT INTO trade_updates (account_id, sequence, event_id, event_type, body)
        SELECT n.account_id, n.sequence, v.message_id, v.message_type, v.body
        FROM unnest({numbered}) AS n(position, account_id, sequence)
        JOIN unnest({events}) WITH ORDINALITY
            AS v(message_id, message_type, exchange, routing_key, body, headers, position)
            USING (position)
    ), moved_ledgers AS (
        UPDATE account_ledgers AS l SET
            cash = l.cash + m.cash,
            held_for_orders = l.held_for_orders + m.held,
            updated_at = now()
        FROM unnest({ledger_moves}) AS m(account_id, cash, held)
        WHERE l.account_id = m.account_id
    ), released AS (
        DELETE FROM inbox USING unnest({released_consumers}, {released_ids}) AS r(consumer, id)
        WHERE inbox.consumer = r.consumer AND inbox.message_id = r.id
    )
    SELECT
        (SELECT count(*) FROM changed) AS changed,
        CASE WHEN {notify} THEN pg_notify('{NOTIFY_CHANNEL}', '') END AS notified
    """


def _columns(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    """Rows as one list per column, for ``unnest`` of arrays."""
    if not rows:
        return [[] for _ in range(width)]
    return [list(column) for column in zip(*rows, strict=True)]


def _execution_columns(staged: Sequence[Execution]) -> list[list[Any]]:
    rows = [
        (
            e.id,
            e.order_id,
            e.account_id,
            e.symbol,
            e.side.value,
            e.qty,
            e.price,
            e.quote_sequence,
            e.executed_at,
        )
        for e in staged
    ]
    return _columns(rows, len(_EXECUTION_COLUMNS))


def _position_columns(staged: Iterable[Position]) -> list[list[Any]]:
    rows = [
        (p.account_id, p.symbol, p.qty, p.cost_basis, p.realized_pl, p.updated_at) for p in staged
    ]
    return _columns(rows, len(_POSITION_COLUMNS))


def _book_columns(staged: Iterable[SymbolBook]) -> list[list[Any]]:
    rows = [tuple(getattr(book, name) for name in _BOOK_COLUMNS) for book in staged]
    return _columns(rows, len(_BOOK_COLUMNS))


def _numbered_columns(numbered: Sequence[NumberedUpdate]) -> list[list[Any]]:
    rows = [(n.position, n.account_id, n.sequence) for n in numbered]
    return _columns(rows, 3)


def _ledger_move_columns(moves: dict[str, Ledger]) -> list[list[Any]]:
    rows = [(account, move.cash, move.held_for_orders) for account, move in sorted(moves.items())]
    return _columns(rows, 3)


def _event_columns(staged: Sequence[OutboxMessage]) -> list[list[Any]]:
    rows = [
        (m.message_id, m.message_type, m.exchange, m.routing_key, m.body, json.dumps(m.headers))
        for m in staged
    ]
    return _columns(rows, len(_OUTBOX_COLUMNS))


_FLUSH = _flush_statement()

_CLAIM = """
    INSERT INTO inbox (consumer, message_id) SELECT $1, id FROM unnest($2::text[]) AS id
    ON CONFLICT DO NOTHING RETURNING message_id
"""
_ORDERS = "SELECT * FROM orders WHERE id = ANY($1::uuid[])"
# Advisory locks, one per account (a 64-bit hash of its id), taken in key order; the inner ORDER
# BY feeds them to the lock functions in that order.
_LOCK_ACCOUNTS = """
    SELECT count(*) FROM (
        SELECT CASE WHEN exclusive THEN pg_advisory_xact_lock(key)
                    ELSE pg_advisory_xact_lock_shared(key) END
        FROM (
            SELECT hashtextextended('tradewind.account:' || account_id, 0) AS key, exclusive
            FROM unnest($1::text[], $2::boolean[]) AS a(account_id, exclusive)
            ORDER BY key, exclusive DESC
        ) AS ordered
    ) AS taken
"""
_OPEN_ORDERS_OF_ACCOUNTS = f"""
    SELECT id FROM orders WHERE account_id = ANY($1::text[]) AND {OPEN}
"""
_SAVE_TRADING_BLOCKS = """
    INSERT INTO trading_blocks (account_id, reason, blocked_by, blocked_at)
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[])
    ON CONFLICT (account_id) DO UPDATE
    SET reason = EXCLUDED.reason, blocked_by = EXCLUDED.blocked_by, blocked_at = EXCLUDED.blocked_at
"""
_LIFT_TRADING_BLOCKS = "DELETE FROM trading_blocks WHERE account_id = ANY($1::text[])"
# Created with the initial cash if missing; a no-op update locks an existing row. Rows are taken
# in account order (the INSERT follows its SELECT's order), so two transactions never wait on
# each other's ledgers in a cycle.
_LOCK_LEDGERS = """
    INSERT INTO account_ledgers (account_id, cash, held_for_orders, created_at, updated_at)
    SELECT account_id, $2::numeric, 0, now(), now() FROM unnest($1::text[]) AS account_id
    ORDER BY account_id
    ON CONFLICT (account_id) DO UPDATE SET account_id = EXCLUDED.account_id
    RETURNING account_id, cash, held_for_orders
"""
# $2, $3: what moved (deltas); $4 the initial cash, for a ledger created here (an account whose
# orders predate the ledger: every order placed since creates it first).
_MOVE_LEDGERS = """
    INSERT INTO account_ledgers AS l (account_id, cash, held_for_orders, created_at, updated_at)
    SELECT account_id, $4::numeric + cash, held, now(), now()
    FROM unnest($1::text[], $2::numeric[], $3::numeric[]) AS m(account_id, cash, held)
    ORDER BY account_id
    ON CONFLICT (account_id) DO UPDATE SET
        cash = l.cash + (EXCLUDED.cash - $4::numeric),
        held_for_orders = l.held_for_orders + EXCLUDED.held_for_orders,
        updated_at = now()
"""
_LOCK_ORDERS = "SELECT * FROM orders WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE"
# Each part is an array: of whole rows of its table (decoded with their column names), and, for
# the market, of anonymous rows in the order of _MARKET_FIELDS. $1 accounts, $2 order ids,
# ($3, $4) (account id, client order id) pairs, $5 symbols, $6 ids of orders whose symbols too.
_COMMITTED = f"""
    SELECT
        ARRAY(SELECT b FROM trading_blocks AS b WHERE b.account_id = ANY($1::text[])) AS blocks,
        ARRAY(SELECT o FROM orders AS o WHERE o.id = ANY($2::uuid[])) AS orders,
        ARRAY(
            SELECT o FROM orders AS o
            JOIN unnest($3::text[], $4::text[]) AS k(account_id, client_order_id)
                ON o.account_id = k.account_id AND o.client_order_id = k.client_order_id
            WHERE o.status NOT IN ({", ".join(f"'{s}'" for s in RELEASING_CLIENT_ORDER_ID)})
        ) AS holders,
        ARRAY(
            SELECT ROW(wanted.symbol, listing.symbol IS NOT NULL, listing.tick_size,
                listing.lot_size, {", ".join(f"book.{name}" for name in _BOOK_COLUMNS[1:])})
            FROM (
                SELECT unnest($5::text[])
                UNION SELECT symbol FROM orders WHERE id = ANY($6::uuid[])
            ) AS wanted(symbol)
            LEFT JOIN instruments AS listing ON listing.symbol = wanted.symbol
            LEFT JOIN symbol_books AS book ON book.symbol = wanted.symbol
        ) AS market
"""
_MARKET_FIELDS = ("symbol", "listed", "tick_size", "lot_size", *_BOOK_COLUMNS[1:])
_LISTINGS = "SELECT symbol, tick_size, lot_size FROM instruments WHERE symbol = ANY($1::text[])"
_LOCK_BOOKS = "SELECT * FROM symbol_books WHERE symbol = ANY($1::text[]) ORDER BY symbol FOR UPDATE"
_CREATE_BOOKS = """
    INSERT INTO symbol_books (symbol, last_sequence, updated_at)
    SELECT symbol, 0, now() FROM unnest($1::text[]) AS symbol ORDER BY symbol
    ON CONFLICT DO NOTHING
"""
_LOCK_POSITIONS = """
    SELECT p.* FROM positions AS p
    JOIN unnest($1::text[], $2::text[]) AS k(account_id, symbol) USING (account_id, symbol)
    ORDER BY p.account_id, p.symbol
    FOR UPDATE OF p
"""
# $2: the rank the quote's price reaches; ($3, $4, $5): the last row of the previous page.
_RESTING = f"""
    SELECT * FROM orders
    WHERE symbol = $1 AND side = '{{side}}' AND {WORKING} AND {RESTING_TIME_IN_FORCE}
        AND {NOT_STOP_PENDING}
        AND {{rank}} <= $2::numeric
        AND ({{rank}}, created_at, id) > ($3::numeric, $4::timestamptz, $5::uuid)
    ORDER BY {{rank}}, created_at, id
    LIMIT $6
    FOR UPDATE
"""
_RESTING_BIDS = _RESTING.format(side="buy", rank=BID_RANK)
_RESTING_ASKS = _RESTING.format(side="sell", rank=ASK_RANK)
# Everything a quote reads but further pages of resting orders, in one round trip: $1 symbol,
# $2 ask, $3 bid, $4 the bid rank the ask reaches, ($5, $6, $7) the start of the keyset, $8 and
# $9 the page sizes of bids and asks (0 when the quote offers nothing on that side).
_FIRST_CANDIDATES = f"""
    WITH buy_stops AS (
        SELECT * FROM orders
        WHERE symbol = $1 AND side = 'buy' AND {WORKING} AND {STOP_PENDING}
            AND stop_price <= $2::numeric
        FOR UPDATE
    ), sell_stops AS (
        SELECT * FROM orders
        WHERE symbol = $1 AND side = 'sell' AND {WORKING} AND {STOP_PENDING}
            AND stop_price >= $3::numeric
        FOR UPDATE
    ), buy_trails AS (
        SELECT * FROM orders
        WHERE symbol = $1 AND side = 'buy' AND {WORKING} AND {TRAILING_PENDING}
            AND hwm > $2::numeric
        FOR UPDATE
    ), sell_trails AS (
        SELECT * FROM orders
        WHERE symbol = $1 AND side = 'sell' AND {WORKING} AND {TRAILING_PENDING}
            AND hwm < $3::numeric
        FOR UPDATE
    ), waiting AS (
        SELECT * FROM orders
        WHERE symbol = $1 AND {WORKING} AND {DECIDED_BY_FIRST_QUOTE} AND {NOT_STOP_PENDING}
        FOR UPDATE
    ), bids AS (
        SELECT * FROM orders
        WHERE symbol = $1 AND side = 'buy' AND {WORKING} AND {RESTING_TIME_IN_FORCE}
            AND {NOT_STOP_PENDING} AND {BID_RANK} <= $4::numeric
            AND ({BID_RANK}, created_at, id) > ($5::numeric, $6::timestamptz, $7::uuid)
        ORDER BY {BID_RANK}, created_at, id
        LIMIT $8
        FOR UPDATE
    ), asks AS (
        SELECT * FROM orders
        WHERE symbol = $1 AND side = 'sell' AND {WORKING} AND {RESTING_TIME_IN_FORCE}
            AND {NOT_STOP_PENDING} AND {ASK_RANK} <= $3::numeric
            AND ({ASK_RANK}, created_at, id) > ($5::numeric, $6::timestamptz, $7::uuid)
        ORDER BY {ASK_RANK}, created_at, id
        LIMIT $9
        FOR UPDATE
    )
    SELECT 'stop' AS part, * FROM buy_stops
    UNION ALL SELECT 'stop', * FROM sell_stops
    UNION ALL SELECT 'trail', * FROM buy_trails
    UNION ALL SELECT 'trail', * FROM sell_trails
    UNION ALL SELECT 'waiting', * FROM waiting
    UNION ALL SELECT 'bid', * FROM bids
    UNION ALL SELECT 'ask', * FROM asks
"""
_LOCK_GROUPS = """
    SELECT * FROM orders WHERE id = ANY($1::uuid[]) OR parent_id = ANY($1::uuid[])
    ORDER BY id FOR UPDATE
"""
_LOCK_LEGS_SKIP_LOCKED = """
    SELECT * FROM orders WHERE parent_id = ANY($1::uuid[]) ORDER BY id FOR UPDATE SKIP LOCKED
"""
_DAY_ORDERS_DUE = f"""
    SELECT * FROM orders
    WHERE time_in_force = 'day' AND {WORKING} AND submitted_at < $1
    ORDER BY submitted_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
"""
_RECORD_LISTING = """
    INSERT INTO instruments (symbol, name, tick_size, lot_size, currency, listed_at, updated_at)
    VALUES ($1, $2, $3, $4, $5, $6, now())
    ON CONFLICT (symbol) DO UPDATE SET
        name = EXCLUDED.name, tick_size = EXCLUDED.tick_size, lot_size = EXCLUDED.lot_size,
        currency = EXCLUDED.currency, listed_at = EXCLUDED.listed_at, updated_at = now()
    WHERE instruments.listed_at <= EXCLUDED.listed_at
    RETURNING symbol
"""


def _first_candidates(quote: Quote, page_size: int) -> tuple[str, tuple[Any, ...]]:
    first_page = (_NEGATIVE_INFINITY, _EARLIEST, _NIL)
    bids = page_size if quote.ask_size > 0 else 0
    asks = page_size if quote.bid_size > 0 else 0
    return _FIRST_CANDIDATES, (
        quote.symbol,
        quote.ask_price,
        quote.bid_price,
        -quote.ask_price,
        *first_page,
        bids,
        asks,
    )


def matching_queries(quote: Quote, page_size: int = 64) -> dict[str, tuple[str, tuple[Any, ...]]]:
    """The statements a quote runs to find the orders it can change, by name, with their
    arguments: what EXPLAIN shows the plans of (docs/orders.md, the tests)."""
    after_first = (_NEGATIVE_INFINITY, _EARLIEST, _NIL, page_size)
    symbol = quote.symbol
    return {
        "candidates": _first_candidates(quote, page_size),
        "next page of bids": (_RESTING_BIDS, (symbol, -quote.ask_price, *after_first)),
        "next page of asks": (_RESTING_ASKS, (symbol, quote.bid_price, *after_first)),
    }
