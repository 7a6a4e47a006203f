"""Execution against quotes: which working orders a quote fills, and what that does to positions.

Pure: given the symbol's book, its working orders and a quote, the outcome is always the same, so
a replay of the same quotes gives the same executions (with the same ids).

The rules (docs/orders.md has the long form):

- Orders are worked in price-time priority: the best price first (for buys the highest limit, for
  sells the lowest; a market order, or a triggered stop, before any limit), then the oldest
  (created_at, then id).
- A buy trades at the ask, a sell at the bid. A market order (or a triggered stop) takes whatever
  the quote offers; a limit buy trades when ask <= limit, a limit sell when bid >= limit, at the
  quote's price, which is never worse than the limit.
- A stop (or stop-limit) order waits until the quote crosses its stop (buy: ask >= stop; sell:
  bid <= stop); from that quote on it is a market (or limit) order.
- A trailing stop is a stop whose stop price follows its high-water mark (domain.trailing): a
  quote that moves the mark moves the stop (a change of the order, not an event); a quote that
  crosses the stop triggers it, and it works as a market order.
- A notional order is a market order whose quantity is sized on the first quote it trades on:
  its amount over that quote's price, rounded down to the lot size (domain.notional).
- The quote's size is the liquidity: ask_size for buys, bid_size for sells, shared by the symbol's
  orders in priority. An order that gets less than its remainder is partially filled and keeps
  working. What the quote still offers after its orders stays on the book (``bid_available``,
  ``ask_available``) for orders that arrive while it is the latest quote.
- An order that arrives while the latest quote is fresh meets that quote at once (execution on
  arrival); otherwise it waits for the next quote.
- ioc fills what it can on the first quote it meets and cancels the rest; fok fills entirely on
  that quote or is canceled. A stop with ioc/fok meets its first quote when it triggers.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
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
from tradewind.orders.domain import trailing
from tradewind.orders.domain.decimals import EXACT
from tradewind.orders.domain.notional import sized_qty
from tradewind.orders.domain.orders import MarketView, Order, cancel, to_snapshot
from tradewind.orders.domain.positions import Position, apply_fill

ZERO = Decimal(0)
_INFINITY = Decimal("Infinity")


@dataclass(frozen=True)
class SymbolBook:
    """The last quote processed for a symbol, and what of its size is still available."""

    symbol: str
    last_sequence: int = 0
    bid_price: Decimal | None = None
    bid_size: Decimal | None = None
    ask_price: Decimal | None = None
    ask_size: Decimal | None = None
    quoted_at: datetime | None = None
    bid_available: Decimal | None = None
    """What is left of ``bid_size`` after the sells that traded on this quote."""
    ask_available: Decimal | None = None
    """What is left of ``ask_size`` after the buys that traded on this quote."""

    def is_older_than(self, quote: Quote) -> bool:
        """Whether ``quote`` is news: a redelivered or overtaken quote is not."""
        return quote.sequence > self.last_sequence

    def market_view(
        self,
        *,
        listed: bool,
        tick_size: Decimal | None = None,
        lot_size: Decimal | None = None,
    ) -> MarketView:
        return MarketView(
            listed=listed,
            bid=self.bid_price,
            ask=self.ask_price,
            tick_size=tick_size,
            lot_size=lot_size,
        )

    def is_fresh(self, now: datetime, max_age: timedelta) -> bool:
        """Whether the last quote is recent enough for an arriving order to trade on it."""
        return _fresh_prices(self, now, max_age) is not None

    def after(self, quote: Quote) -> SymbolBook:
        return SymbolBook(
            symbol=self.symbol,
            last_sequence=quote.sequence,
            bid_price=quote.bid_price,
            bid_size=quote.bid_size,
            ask_price=quote.ask_price,
            ask_size=quote.ask_size,
            quoted_at=quote.timestamp,
            bid_available=max(quote.bid_size, ZERO),
            ask_available=max(quote.ask_size, ZERO),
        )

    def with_available(self, liquidity: Mapping[Side, Decimal]) -> SymbolBook:
        return dataclasses.replace(
            self, bid_available=liquidity[Side.SELL], ask_available=liquidity[Side.BUY]
        )


@dataclass(frozen=True)
class _TopOfBook:
    """The prices an order meets: a new quote's, or the latest one's on arrival."""

    sequence: int
    bid_price: Decimal
    ask_price: Decimal

    def price_for(self, side: Side) -> Decimal:
        return self.ask_price if side is Side.BUY else self.bid_price


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
    """The book after the quote, with what its orders left of the sizes."""
    changes: tuple[OrderChange, ...]

    @property
    def executions(self) -> list[Execution]:
        return [change.execution for change in self.changes if change.execution is not None]


def time_priority(order: Order) -> tuple[datetime, UUID]:
    return order.created_at, order.id


def limit_rank(order: Order) -> Decimal:
    """Where the order's price ranks on its side, best (lowest) first.

    Buys rank by descending limit, sells by ascending limit; a market order (or a triggered stop)
    has no limit and ranks before every limit. The store's matching indexes sort by the same key.
    """
    if order.side is Side.BUY:
        return -order.limit_price if order.limit_price is not None else -_INFINITY
    return order.limit_price if order.limit_price is not None else -_INFINITY


def price_time_priority(order: Order) -> tuple[Decimal, datetime, UUID]:
    return limit_rank(order), order.created_at, order.id


def can_execute(order: Order, quote: Quote) -> bool:
    """Whether ``quote`` changes ``order``: the candidates the store loads for a quote.

    A pending stop the quote crosses triggers; a trailing stop whose mark the quote moves
    changes; an ioc or fok order is decided by the first quote it meets; a day or gtc order
    changes only if it can trade (its limit reached).
    """
    if not order.is_working or order.symbol != quote.symbol:
        return False
    prices = _TopOfBook(quote.sequence, quote.bid_price, quote.ask_price)
    if order.stop_pending:
        if order.type.is_trailing:
            price = trailing.market_price(order.side, quote.bid_price, quote.ask_price)
            if trailing.improves(order.side, order.hwm, price):
                return True
        return _stop_reached(order, prices)
    if order.time_in_force in _DECIDED_BY_FIRST_QUOTE:
        return True
    return _marketable(order, prices)


def match_quote(
    book: SymbolBook,
    quote: Quote,
    working: Iterable[Order],
    now: datetime,
    *,
    lot_size: Decimal | None = None,
) -> Match:
    """Work the symbol's orders against ``quote``, which must be newer than ``book``.

    ``working`` may be every working order of the symbol or only those that ``can_execute`` on
    the quote (in priority, as many as its size can fill): the outcome is the same.
    ``lot_size`` (the symbol's) sizes notional orders.
    """
    if not book.is_older_than(quote):
        raise ValueError(
            f"quote {quote.sequence} of {quote.symbol} is not newer than {book.last_sequence}"
        )
    after = book.after(quote)
    prices = _TopOfBook(quote.sequence, quote.bid_price, quote.ask_price)
    liquidity = _liquidity(after)
    changes: list[OrderChange] = []
    for worked in _triggered_in_priority(working, prices, now):
        if worked.order.symbol != quote.symbol or not worked.order.is_working:
            continue
        change = _work(worked, prices, liquidity, now, lot_size=lot_size)
        if change is not None:
            changes.append(change)
    return Match(quote.sequence, after.with_available(liquidity), tuple(changes))


def execute_on_arrival(
    order: Order,
    book: SymbolBook,
    now: datetime,
    *,
    max_quote_age: timedelta,
    lot_size: Decimal | None = None,
) -> Match | None:
    """Meet a newly accepted order with the latest quote, if that quote is fresh.

    The order trades as it would have on that quote, on what the quote still offers; a stop the
    quote already crosses triggers. Returns None when there is no fresh quote: the order rests
    and meets the next one. The match's book is the book after the order.
    """
    prices = _fresh_prices(book, now, max_quote_age)
    if not order.is_working or prices is None:
        return None
    liquidity = _liquidity(book)
    (worked,) = _triggered_in_priority([order], prices, now)
    change = _work(worked, prices, liquidity, now, lot_size=lot_size)
    changes = () if change is None else (change,)
    return Match(book.last_sequence, book.with_available(liquidity), changes)


def liquidity_covered(resting: Iterable[Order], available: Decimal) -> bool:
    """Whether day/gtc orders loaded in priority already ask for all the size ``available``.

    Such orders take min(what is left, their remainder) in turn and never skip, so once their
    remainders add up to the size, every order behind them would get nothing.
    """
    with localcontext(EXACT):
        return sum((order.remaining_qty for order in resting), ZERO) >= available


_DECIDED_BY_FIRST_QUOTE = frozenset({TimeInForce.IOC, TimeInForce.FOK})


def _fresh_prices(book: SymbolBook, now: datetime, max_age: timedelta) -> _TopOfBook | None:
    """The latest quote's prices, if it is at most ``max_age`` old."""
    if book.quoted_at is None or book.bid_price is None or book.ask_price is None:
        return None
    if now - book.quoted_at > max_age:
        return None
    return _TopOfBook(book.last_sequence, book.bid_price, book.ask_price)


def _liquidity(book: SymbolBook) -> dict[Side, Decimal]:
    return {Side.BUY: book.ask_available or ZERO, Side.SELL: book.bid_available or ZERO}


@dataclass(frozen=True)
class _Worked:
    """An order as it stands on this quote, before it trades."""

    order: Order
    previous_version: int
    triggered: bool
    """The quote crossed its stop."""

    @property
    def trailed(self) -> bool:
        """The quote moved its trailing stop's mark (and so its stop)."""
        return self.order.version != self.previous_version


def _triggered_in_priority(
    orders: Iterable[Order], prices: _TopOfBook, now: datetime
) -> list[_Worked]:
    """Orders in priority as they stand on this quote, each with whether the quote triggered it.

    A trailing stop's mark follows the quote first. A stop the quote crosses is triggered and
    works from the same quote on, ranked by its own price and age.
    """
    worked = []
    for order in orders:
        previous_version = order.version
        if order.stop_pending and order.type.is_trailing:
            order = trailing.follow(order, prices.bid_price, prices.ask_price, now)
        triggered = order.stop_pending and _stop_reached(order, prices)
        if triggered:
            order = dataclasses.replace(order, stop_triggered_at=now)
        worked.append(_Worked(order, previous_version, triggered))
    return sorted(worked, key=lambda each: price_time_priority(each.order))


def _stop_reached(order: Order, prices: _TopOfBook) -> bool:
    assert order.stop_price is not None
    if order.side is Side.BUY:
        return prices.ask_price >= order.stop_price
    return prices.bid_price <= order.stop_price


def _marketable(order: Order, prices: _TopOfBook) -> bool:
    if order.limit_price is None:
        return True
    if order.side is Side.BUY:
        return prices.ask_price <= order.limit_price
    return prices.bid_price >= order.limit_price


def _work(
    worked: _Worked,
    prices: _TopOfBook,
    liquidity: dict[Side, Decimal],
    now: datetime,
    *,
    lot_size: Decimal | None,
) -> OrderChange | None:
    """What the quote does to the order; a stop it crosses arrives here already triggered, a
    trailing stop with its mark already moved."""
    order, previous_version, triggered = worked.order, worked.previous_version, worked.triggered
    if order.stop_pending:
        return OrderChange(previous_version, order) if worked.trailed else None
    # A mark never moves on the quote that triggers (module docstring of domain.trailing); the
    # changes below count from the version the order was loaded at.
    order = dataclasses.replace(order, version=previous_version)
    if order.unsized:
        order = _sized(order, prices.price_for(order.side), lot_size)
        if order.qty == 0:
            # Its amount does not pay for one lot at this price: nothing to trade, ever.
            canceled = cancel(dataclasses.replace(order, qty=None), now).order
            return OrderChange(previous_version, canceled, remainder_canceled=True)
    remaining = order.remaining_qty
    available = liquidity[order.side] if _marketable(order, prices) else ZERO
    fill_qty = min(available, remaining)
    if order.time_in_force is TimeInForce.FOK and fill_qty < remaining:
        fill_qty = ZERO
    execution = None
    filled = None
    if fill_qty > 0:
        with localcontext(EXACT):
            liquidity[order.side] = available - fill_qty
        price = prices.price_for(order.side)
        execution = Execution(
            id=execution_id(order.id, prices.sequence),
            order_id=order.id,
            account_id=order.account_id,
            symbol=order.symbol,
            side=order.side,
            qty=fill_qty,
            price=price,
            quote_sequence=prices.sequence,
            executed_at=now,
        )
        order = filled = _with_execution(order, fill_qty, price, now)
    cancel_rest = order.time_in_force in _DECIDED_BY_FIRST_QUOTE and order.is_working
    if cancel_rest:
        order = cancel(order, now).order
    elif filled is None:
        if not triggered:
            return None
        order = dataclasses.replace(order, updated_at=now, version=order.version + 1)
    return OrderChange(previous_version, order, execution, filled, remainder_canceled=cancel_rest)


def _sized(order: Order, price: Decimal, lot_size: Decimal | None) -> Order:
    """A notional order with the quantity its amount pays for at ``price`` (0: not one lot)."""
    assert order.notional is not None
    return dataclasses.replace(order, qty=sized_qty(order.notional, price, lot_size))


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
