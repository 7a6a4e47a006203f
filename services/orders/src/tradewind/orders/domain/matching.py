"""Execution against quotes: which working orders a quote fills, and what that does to positions.

Pure: given the symbol's book, its working orders and a quote, the outcome is always the same, so
a replay of the same quotes gives the same executions (with the same ids).

The rules (docs/orders.md has the long form):

- Orders are worked in time priority, oldest first (created_at, then id).
- A buy trades at the ask, a sell at the bid. A market order (or a triggered stop) takes whatever
  the quote offers; a limit buy trades when ask <= limit, a limit sell when bid >= limit, at the
  quote's price, which is never worse than the limit.
- A stop (or stop-limit) order waits until the quote crosses its stop (buy: ask >= stop; sell:
  bid <= stop); from that quote on it is a market (or limit) order.
- The quote's size is the liquidity: ask_size for buys, bid_size for sells, shared by the symbol's
  orders in time priority. An order that gets less than its remainder is partially filled and
  keeps working.
- ioc fills what it can on the first quote it meets and cancels the rest; fok fills entirely on
  that quote or is canceled. A stop with ioc/fok meets its first quote when it triggers.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, localcontext
from uuid import UUID

from tradewind.common.contracts import (
    Contract,
    OrderCanceled,
    OrderFilled,
    OrderPartiallyFilled,
    Quote,
)
from tradewind.common.contracts.types import OrderStatus, Side, TimeInForce
from tradewind.orders.domain.decimals import EXACT
from tradewind.orders.domain.orders import MarketView, Order, cancel, to_snapshot
from tradewind.orders.domain.positions import Position, apply_fill

ZERO = Decimal(0)


@dataclass(frozen=True)
class SymbolBook:
    """The last quote processed for a symbol."""

    symbol: str
    last_sequence: int = 0
    bid_price: Decimal | None = None
    bid_size: Decimal | None = None
    ask_price: Decimal | None = None
    ask_size: Decimal | None = None
    quoted_at: datetime | None = None

    def is_older_than(self, quote: Quote) -> bool:
        """Whether ``quote`` is news: a redelivered or overtaken quote is not."""
        return quote.sequence > self.last_sequence

    def market_view(self, *, listed: bool) -> MarketView:
        return MarketView(listed=listed, bid=self.bid_price, ask=self.ask_price)

    def after(self, quote: Quote) -> SymbolBook:
        return SymbolBook(
            symbol=self.symbol,
            last_sequence=quote.sequence,
            bid_price=quote.bid_price,
            bid_size=quote.bid_size,
            ask_price=quote.ask_price,
            ask_size=quote.ask_size,
            quoted_at=quote.timestamp,
        )


@dataclass(frozen=True)
class Execution:
    id: UUID
    order_id: UUID
    account_id: str
    symbol: str
    side: Side
    qty: Decimal
    price: Decimal
    quote_sequence: int
    executed_at: datetime


def execution_id(order_id: UUID, quote_sequence: int) -> UUID:
    """One order trades at most once per quote, so (order, quote) names the execution."""
    return uuid.uuid5(order_id, f"quote:{quote_sequence}")


@dataclass(frozen=True)
class OrderChange:
    """What one quote did to one order."""

    previous_version: int
    order: Order
    """The order after the quote."""
    execution: Execution | None = None
    filled: Order | None = None
    """The order right after the execution (before an ioc/fok remainder is canceled)."""
    remainder_canceled: bool = False


@dataclass(frozen=True)
class Match:
    quote_sequence: int
    book: SymbolBook
    """The book after the quote."""
    changes: tuple[OrderChange, ...]

    @property
    def executions(self) -> list[Execution]:
        return [change.execution for change in self.changes if change.execution is not None]


def time_priority(order: Order) -> tuple[datetime, UUID]:
    return order.created_at, order.id


def match_quote(book: SymbolBook, quote: Quote, working: Iterable[Order], now: datetime) -> Match:
    """Work the symbol's orders against ``quote``, which must be newer than ``book``."""
    if not book.is_older_than(quote):
        raise ValueError(
            f"quote {quote.sequence} of {quote.symbol} is not newer than {book.last_sequence}"
        )
    liquidity = {
        Side.BUY: max(quote.ask_size, ZERO),
        Side.SELL: max(quote.bid_size, ZERO),
    }
    changes: list[OrderChange] = []
    for order in sorted(working, key=time_priority):
        if order.symbol != quote.symbol or not order.is_working:
            continue
        change = _work(order, quote, liquidity, now)
        if change is not None:
            changes.append(change)
    return Match(quote.sequence, book.after(quote), tuple(changes))


def _stop_reached(order: Order, quote: Quote) -> bool:
    assert order.stop_price is not None
    if order.side is Side.BUY:
        return quote.ask_price >= order.stop_price
    return quote.bid_price <= order.stop_price


def _marketable(order: Order, quote: Quote) -> bool:
    if order.limit_price is None:
        return True
    if order.side is Side.BUY:
        return quote.ask_price <= order.limit_price
    return quote.bid_price >= order.limit_price


def _work(
    order: Order, quote: Quote, liquidity: dict[Side, Decimal], now: datetime
) -> OrderChange | None:
    previous_version = order.version
    triggered = False
    if order.stop_pending:
        if not _stop_reached(order, quote):
            return None
        order = dataclasses.replace(order, stop_triggered_at=now)
        triggered = True
    remaining = order.remaining_qty
    available = liquidity[order.side] if _marketable(order, quote) else ZERO
    fill_qty = min(available, remaining)
    if order.time_in_force is TimeInForce.FOK and fill_qty < remaining:
        fill_qty = ZERO
    execution = None
    filled = None
    if fill_qty > 0:
        with localcontext(EXACT):
            liquidity[order.side] = available - fill_qty
        price = quote.ask_price if order.side is Side.BUY else quote.bid_price
        execution = Execution(
            id=execution_id(order.id, quote.sequence),
            order_id=order.id,
            account_id=order.account_id,
            symbol=order.symbol,
            side=order.side,
            qty=fill_qty,
            price=price,
            quote_sequence=quote.sequence,
            executed_at=now,
        )
        order = filled = _with_execution(order, fill_qty, price, now)
    cancel_rest = order.time_in_force in (TimeInForce.IOC, TimeInForce.FOK) and order.is_working
    if cancel_rest:
        order = cancel(order, now).order
    elif filled is None:
        if not triggered:
            return None
        order = dataclasses.replace(order, updated_at=now, version=order.version + 1)
    return OrderChange(previous_version, order, execution, filled, remainder_canceled=cancel_rest)


def _with_execution(order: Order, qty: Decimal, price: Decimal, now: datetime) -> Order:
    with localcontext(EXACT):
        filled_qty = order.filled_qty + qty
        filled_notional = order.filled_notional + qty * price
    done = filled_qty == order.qty
    return dataclasses.replace(
        order,
        status=OrderStatus.FILLED if done else OrderStatus.PARTIALLY_FILLED,
        filled_qty=filled_qty,
        filled_notional=filled_notional,
        filled_at=now if done else None,
        updated_at=now,
        version=order.version + 1,
    )


# --- settlement: positions and events ---


@dataclass(frozen=True)
class StagedEvent:
    """An event about ``order`` to put in the outbox under ``id``."""

    id: str
    data: Contract
    order: Order


@dataclass(frozen=True)
class Settlement:
    positions: tuple[Position, ...]
    """Every position the quote changed, as it stands after all its executions."""
    events: tuple[StagedEvent, ...]


def settle(match: Match, positions: Mapping[str, Position], now: datetime) -> Settlement:
    """Apply the match's executions to the accounts' positions and describe it all as events.

    ``positions`` holds the current position of the symbol per account id (a missing account is
    flat). Fill events carry the position as it stands after that fill, in time priority order.
    """
    current = dict(positions)
    events: list[StagedEvent] = []
    for change in match.changes:
        execution, filled = change.execution, change.filled
        if execution is not None and filled is not None:
            position = current.get(execution.account_id) or Position.flat(
                execution.account_id, execution.symbol, now
            )
            position = apply_fill(position, execution.side, execution.qty, execution.price, now)
            current[execution.account_id] = position
            events.append(
                StagedEvent(str(execution.id), _fill_event(execution, filled, position), filled)
            )
        if change.remainder_canceled:
            event_id = uuid.uuid5(change.order.id, f"canceled:{match.quote_sequence}")
            events.append(
                StagedEvent(
                    str(event_id), OrderCanceled(order=to_snapshot(change.order)), change.order
                )
            )
    changed_accounts = {execution.account_id for execution in match.executions}
    return Settlement(
        positions=tuple(current[account] for account in sorted(changed_accounts)),
        events=tuple(events),
    )


def _fill_event(execution: Execution, filled: Order, position: Position) -> Contract:
    fill_type = OrderFilled if filled.status is OrderStatus.FILLED else OrderPartiallyFilled
    average = filled.filled_avg_price
    assert average is not None, "an order with an execution has an average price"
    return fill_type(
        order=to_snapshot(filled),
        execution_id=execution.id,
        qty=execution.qty,
        price=execution.price,
        filled_qty=filled.filled_qty,
        filled_avg_price=average,
        position_qty=position.qty,
        timestamp=execution.executed_at,
    )
