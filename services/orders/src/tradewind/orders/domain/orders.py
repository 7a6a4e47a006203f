"""The order and its commands: place (with risk checks), cancel, replace, expire.

Pure: no I/O and no clock; the handlers pass in what the database knows and the time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, localcontext
from uuid import UUID

from tradewind.common.contracts import (
    CancelRejected,
    Contract,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderRejected,
    OrderReplaced,
    OrderSnapshot,
    PlaceOrder,
    RejectReason,
    ReplaceOrder,
    ReplaceRejected,
)
from tradewind.common.contracts.order_rules import OrderTerms
from tradewind.common.contracts.order_rules import inconsistency as terms_inconsistency
from tradewind.common.contracts.types import (
    OrderClass,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from tradewind.orders.domain import trailing
from tradewind.orders.domain.decimals import EXACT, contract_decimal
from tradewind.orders.domain.notional import too_small

WORKING_STATUSES = frozenset({OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED})
"""Statuses in which an order can still fill (and be canceled, replaced or expired)."""


@dataclass(frozen=True)
class Order:
    id: UUID
    account_id: str
    client_order_id: str | None
    symbol: str
    side: Side
    type: OrderType
    qty: Decimal | None
    """None for a notional order until it first trades (sized then: domain.notional)."""
    limit_price: Decimal | None
    time_in_force: TimeInForce
    status: OrderStatus
    submitted_at: datetime
    created_at: datetime
    updated_at: datetime
    stop_price: Decimal | None = None
    filled_qty: Decimal = Decimal(0)
    filled_notional: Decimal = Decimal(0)
    """Sum of qty x price over the order's executions, exact: the average derives from it."""
    accepted_at: datetime | None = None
    rejected_at: datetime | None = None
    canceled_at: datetime | None = None
    filled_at: datetime | None = None
    expired_at: datetime | None = None
    replaced_at: datetime | None = None
    stop_triggered_at: datetime | None = None
    replaces: UUID | None = None
    replaced_by: UUID | None = None
    reject_reason: str | None = None
    version: int = 1
    hold_price: Decimal | None = None
    """What each unfilled unit of a working buy holds of the account's cash (the account
    ledger): its limit price, or for a market or stop buy its valuation when placed plus the
    margin. None for sells and for orders that were never accepted."""
    order_class: OrderClass = OrderClass.SIMPLE
    parent_id: UUID | None = None
    """The order whose leg this one is (domain/order_classes.py)."""
    notional: Decimal | None = None
    """A notional order's dollar amount (it has no qty until it trades)."""
    trail_price: Decimal | None = None
    trail_percent: Decimal | None = None
    hwm: Decimal | None = None
    """A trailing stop's high-water mark (domain.trailing); its stop_price follows it."""

    @property
    def is_open(self) -> bool:
        return not self.status.is_terminal

    @property
    def is_working(self) -> bool:
        return self.status in WORKING_STATUSES

    @property
    def remaining_qty(self) -> Decimal:
        """What is left to fill; 0 for a notional order not sized yet (it asks for no known
        quantity, so paging through the book never stops early because of it)."""
        if self.qty is None:
            return Decimal(0)
        with localcontext(EXACT):
            return self.qty - self.filled_qty

    @property
    def held_value(self) -> Decimal:
        """What the order holds of its account's buying power now: its hold price times what is
        left to fill while it works, nothing once it is terminal (or if it is a sell)."""
        if self.hold_price is None or not self.is_working:
            return Decimal(0)
        if self.unsized and self.notional is not None:
            return self.notional  # not sized yet: it spends at most its notional
        return notional(self.remaining_qty, self.hold_price)

    @property
    def unsized(self) -> bool:
        """A notional order that has not traded yet: its quantity is decided by its price."""
        return self.qty is None and self.notional is not None

    @property
    def terms(self) -> OrderTerms:
        """The fields the shared consistency rule reads, as the client asked for them: checked
        when an order is placed or replaced, never after it traded (a notional order that has
        been sized has both a qty and a notional, and cannot be replaced)."""
        return OrderTerms(
            type=self.type,
            time_in_force=self.time_in_force,
            qty=self.qty,
            notional=self.notional,
            limit_price=self.limit_price,
            # A started trailing stop's stop_price is its own (it follows the mark), not a
            # price the client sent.
            stop_price=None if self.type.is_trailing and self.hwm is not None else self.stop_price,
            trail_price=self.trail_price,
            trail_percent=self.trail_percent,
        )

    @property
    def filled_avg_price(self) -> Decimal | None:
        """Volume-weighted average fill price, rounded to what a contract carries."""
        if not self.filled_qty:
            return None
        with localcontext(EXACT):
            return contract_decimal(self.filled_notional / self.filled_qty)

    @property
    def stop_pending(self) -> bool:
        """A stop, stop-limit or trailing stop order whose stop price has not been reached."""
        return (
            self.type.needs_stop_price or self.type.is_trailing
        ) and self.stop_triggered_at is None


def to_snapshot(order: Order) -> OrderSnapshot:
    return OrderSnapshot(
        id=order.id,
        account_id=order.account_id,
        client_order_id=order.client_order_id,
        symbol=order.symbol,
        side=order.side,
        type=order.type,
        qty=order.qty,
        notional=order.notional,
        limit_price=order.limit_price,
        stop_price=order.stop_price,
        trail_price=order.trail_price,
        trail_percent=order.trail_percent,
        hwm=order.hwm,
        time_in_force=order.time_in_force,
        status=order.status,
        filled_qty=order.filled_qty,
        filled_avg_price=order.filled_avg_price,
        submitted_at=order.submitted_at,
        created_at=order.created_at,
        updated_at=order.updated_at,
        accepted_at=order.accepted_at,
        rejected_at=order.rejected_at,
        canceled_at=order.canceled_at,
        filled_at=order.filled_at,
        expired_at=order.expired_at,
        replaced_at=order.replaced_at,
        stop_triggered_at=order.stop_triggered_at,
        replaces=order.replaces,
        replaced_by=order.replaced_by,
        reject_reason=order.reject_reason,
        version=order.version,
        order_class=order.order_class,
        parent_id=order.parent_id,
    )


# --- risk checks ---

DEFAULT_MARKET_BUY_MARGIN = Decimal("0.05")
"""The setting's default (TRADEWIND_ORDERS_MARKET_BUY_MARGIN)."""


@dataclass(frozen=True)
class RiskRules:
    """What an order must satisfy to be accepted."""

    reference_prices: Mapping[str, Decimal]
    """Price that values a market or stop order of a symbol no quote has been seen for yet."""
    max_notional: Decimal
    market_buy_margin: Decimal = DEFAULT_MARKET_BUY_MARGIN
    """A market or stop buy holds its valuation times (1 + this): it fills at the ask of a later
    quote, which may be higher than the one it was valued at."""


@dataclass(frozen=True)
class MarketView:
    """What the service knows of the order's symbol when the order arrives."""

    listed: bool
    """An ``instrument.listed`` event announced the symbol: it is tradable."""
    bid: Decimal | None = None
    ask: Decimal | None = None
    """The last quote seen for the symbol, if any."""
    tick_size: Decimal | None = None
    """Prices must be multiples of it (None: not checked)."""
    lot_size: Decimal | None = None
    """Quantities must be multiples of it (None: not checked)."""


def rejection_event(order: Order, reason: RejectReason, message: str) -> OrderRejected:
    return OrderRejected(order=to_snapshot(order), reason=reason, message=message)


def as_rejected(order: Order, reason: RejectReason, now: datetime) -> Order:
    """``order`` refused at ``now`` for ``reason``: never accepted."""
    return dataclasses.replace(
        order,
        status=OrderStatus.REJECTED,
        accepted_at=None,
        rejected_at=now,
        reject_reason=reason.value,
    )


def notional(qty: Decimal, price: Decimal) -> Decimal:
    with localcontext(EXACT):
        return qty * price


def inconsistency(order: Order) -> str | None:
    """Why the order's fields do not fit its type, or None: the shared rule
    (``tradewind.common.contracts.order_rules``) the gateway checks too."""
    found = terms_inconsistency(order.terms)
    return None if found is None else found[1]


def valuation_price(order: Order, rules: RiskRules, market: MarketView) -> Decimal | None:
    """The price the notional check values ``order`` at, or None if there is none.

    Limit and stop-limit orders cannot trade worse than their limit. Market and stop orders trade
    at the quote: the last one seen (ask for a buy, bid for a sell), else the configured reference
    price. A buy stop fills only once the ask reaches its stop, so it is valued at no less than its
    stop price; a stop with neither quote nor reference price is valued at its stop price.
    """
    if order.limit_price is not None:
        return order.limit_price
    quoted = market.ask if order.side is Side.BUY else market.bid
    price = quoted if quoted is not None else rules.reference_prices.get(order.symbol)
    if order.type in _STOP_MARKET_TYPES and order.stop_price is not None:
        if price is None:
            return order.stop_price
        if order.side is Side.BUY:
            return max(price, order.stop_price)
    return price


def hold_price(order: Order, price: Decimal, margin: Decimal) -> Decimal | None:
    """What each unit of ``order`` holds of the account's cash, valued at ``price`` (what the
    notional check valued it at): a limit buy cannot pay more than its limit; a market or stop
    buy pays the ask of the quote it meets, so it holds its valuation plus ``margin``. Sells
    hold nothing (short selling is not checked against buying power)."""
    if order.side is not Side.BUY:
        return None
    if order.limit_price is not None:
        return order.limit_price
    with localcontext(EXACT):
        return price * (1 + margin)


_STOP_MARKET_TYPES = frozenset({OrderType.STOP, OrderType.TRAILING_STOP})


def off_increment(order: Order, market: MarketView) -> str | None:
    """Which of the order's quantity and prices is not a multiple of the listing's increment.

    A trailing stop's stop price is derived (a percentage of the mark need not be on a tick);
    its ``trail_price`` is checked instead, so that the stop it makes stays on the ticks."""
    with localcontext(EXACT):
        if market.lot_size and order.qty is not None and order.qty % market.lot_size:
            return f"qty {order.qty:f} is not a multiple of the lot size {market.lot_size:f}"
        stop = None if order.type.is_trailing else order.stop_price
        prices = (
            ("limit_price", order.limit_price),
            ("stop_price", stop),
            ("trail_price", order.trail_price),
        )
        for name, price in prices:
            if market.tick_size and price is not None and price % market.tick_size:
                return f"{name} {price:f} is not a multiple of the tick size {market.tick_size:f}"
    return None


def first_violation(
    order: Order,
    rules: RiskRules,
    market: MarketView,
    *,
    client_order_id_in_use: bool,
    trading_blocked: bool = False,
    buying_power: Decimal | None = None,
) -> tuple[RejectReason, str] | None:
    """The first rule ``order`` breaks, in the order they are checked, or None.

    ``buying_power`` is what the account's cash leaves after what its open orders hold (None:
    not checked); a buy must not hold more than that.
    """
    if trading_blocked:
        return RejectReason.ACCOUNT_BLOCKED, "the account's trading is blocked (kill switch)"
    if not market.listed:
        return RejectReason.UNKNOWN_SYMBOL, f"symbol {order.symbol!r} is not traded here"
    problem = inconsistency(order) or off_increment(order, market)
    if problem is not None:
        return RejectReason.INVALID_ORDER, problem
    if client_order_id_in_use:
        return (
            RejectReason.DUPLICATE_CLIENT_ORDER_ID,
            f"client_order_id {order.client_order_id!r} is already used by another order",
        )
    # A held leg's mark starts when its entry fills (domain/order_classes.py), not from a quote.
    if order.type.is_trailing and order.hwm is None and order.status is not OrderStatus.HELD:
        side = "bid" if order.side is Side.SELL else "ask"
        return (
            RejectReason.PRICE_UNAVAILABLE,
            f"no quote for {order.symbol!r} yet: a trailing stop starts its high-water mark "
            f"from the {side}",
        )
    price = valuation_price(order, rules, market)
    if price is None:
        return (
            RejectReason.PRICE_UNAVAILABLE,
            f"no quote and no reference price for {order.symbol!r} to value the order at",
        )
    if order.notional is not None:
        small = too_small(order.notional, price, market.lot_size)
        if small is not None:
            return RejectReason.INVALID_ORDER, small
    value = order.notional if order.qty is None else notional(order.qty, price)
    assert value is not None, "an order has a qty or a notional"
    if value > rules.max_notional:
        return (
            RejectReason.NOTIONAL_LIMIT_EXCEEDED,
            f"order notional {value:f} exceeds the limit of {rules.max_notional:f} per order",
        )
    unit_hold = hold_price(order, price, rules.market_buy_margin)
    if buying_power is not None and unit_hold is not None:
        needed = value if order.qty is None else notional(order.remaining_qty, unit_hold)
        if needed > buying_power:
            return (
                RejectReason.INSUFFICIENT_BUYING_POWER,
                f"the order would hold {contract_decimal(needed):f} but the buying power is "
                f"{contract_decimal(buying_power):f}",
            )
    return None


def _holding(order: Order, rules: RiskRules, market: MarketView) -> Order:
    """The accepted ``order`` with its hold price set (a buy), valued as the checks valued it."""
    price = valuation_price(order, rules, market)
    if price is None:
        return order
    return dataclasses.replace(order, hold_price=hold_price(order, price, rules.market_buy_margin))


# --- place ---


@dataclass(frozen=True)
class Placement:
    order: Order
    event: Contract
    """OrderAccepted, or an ``order.rejected`` event."""


def place(
    command: PlaceOrder,
    rules: RiskRules,
    market: MarketView,
    *,
    client_order_id_in_use: bool,
    now: datetime,
    trading_blocked: bool = False,
    buying_power: Decimal | None = None,
) -> Placement:
    """Accept the order as ``new`` or reject it, naming the first rule it breaks.

    ``buying_power``: the account's, before this order (None: not checked).
    """
    order = Order(
        id=command.order_id,
        account_id=command.account_id,
        client_order_id=command.client_order_id,
        symbol=command.symbol,
        side=command.side,
        type=command.type,
        qty=command.qty,
        notional=command.notional,
        limit_price=command.limit_price,
        stop_price=command.stop_price,
        trail_price=command.trail_price,
        trail_percent=command.trail_percent,
        time_in_force=command.time_in_force,
        status=OrderStatus.NEW,
        submitted_at=command.submitted_at,
        created_at=now,
        updated_at=now,
        accepted_at=now,
        order_class=command.order_class,
    )
    if command.type.is_trailing and inconsistency(order) is None:
        side_price = market.bid if command.side is Side.SELL else market.ask
        order = trailing.started(order, side_price)
    violation = first_violation(
        order,
        rules,
        market,
        client_order_id_in_use=client_order_id_in_use,
        trading_blocked=trading_blocked,
        buying_power=buying_power,
    )
    if violation is None:
        accepted = _holding(order, rules, market)
        return Placement(accepted, OrderAccepted(order=to_snapshot(accepted)))
    reason, message = violation
    rejected = as_rejected(order, reason, now)
    return Placement(rejected, rejection_event(rejected, reason, message))


# --- cancel ---


@dataclass(frozen=True)
class CancelOutcome:
    order: Order
    event: OrderCanceled | CancelRejected

    @property
    def changed(self) -> bool:
        return isinstance(self.event, OrderCanceled)


def cancel(order: Order, now: datetime) -> CancelOutcome:
    """Cancel an open order; a terminal one stays as it is and the cancel is refused.

    A partially filled order keeps what it filled: only the remainder is canceled.
    """
    if not order.is_open:
        return CancelOutcome(
            order,
            CancelRejected(
                order=to_snapshot(order), reason=f"order is already {order.status.value}"
            ),
        )
    canceled = dataclasses.replace(
        order,
        status=OrderStatus.CANCELED,
        canceled_at=now,
        updated_at=now,
        version=order.version + 1,
    )
    return CancelOutcome(canceled, OrderCanceled(order=to_snapshot(canceled)))


# --- replace ---


REPLACE_REFUSED = "replace_refused"
"""The ``reject_reason`` of a refused replacement that broke no risk rule: its order could not be
replaced (pending, already terminal, a price its type lacks, a quantity already filled)."""


@dataclass(frozen=True)
class ReplaceOutcome:
    order: Order
    """The order named by the command: replaced, or unchanged when the replace is refused."""
    replacement: Order | None
    """The new order, working, when the replace is done."""
    refused_replacement: Order | None
    """The new order, rejected, when the replace is refused. It is kept so that its id, which
    the client already holds from the 202, reads as rejected and refuses a cancel, instead of
    naming nothing."""
    event: OrderReplaced | ReplaceRejected

    @property
    def changed(self) -> bool:
        return self.replacement is not None


def replace(
    order: Order,
    command: ReplaceOrder,
    rules: RiskRules,
    market: MarketView,
    *,
    client_order_id_in_use: bool,
    now: datetime,
    trading_blocked: bool = False,
    buying_power: Decimal | None = None,
) -> ReplaceOutcome:
    """Replace a working order by a new one, or refuse and leave the order as it is.

    ``command.qty`` is the new total of the order: what it has filled stays with the replaced
    order, and the replacement is for the rest (new total minus filled quantity). Fields the
    command leaves unset keep their values. The replacement passes the same risk checks as a new
    order and joins the back of the queue (time priority restarts). ``buying_power`` is the
    account's before the replace (None: not checked): what the order holds is released by the
    replace, so the replacement may hold that much more.
    """
    refusal = _replace_refusal(order, command)
    if refusal is not None:
        return _refused(order, command, _replacement(order, command, now), REPLACE_REFUSED, refusal)
    replacement = _replacement(order, command, now)
    if replacement.qty is None or replacement.qty <= 0:
        new_total = command.qty or order.qty
        return _refused(
            order,
            command,
            replacement,
            REPLACE_REFUSED,
            f"qty {new_total:f} does not exceed the {order.filled_qty:f} already filled",
        )
    violation = first_violation(
        replacement,
        rules,
        market,
        client_order_id_in_use=client_order_id_in_use,
        trading_blocked=trading_blocked,
        buying_power=None if buying_power is None else buying_power + order.held_value,
    )
    if violation is not None:
        reason, message = violation
        return _refused(order, command, replacement, reason.value, f"{reason.value}: {message}")
    replacement = _holding(replacement, rules, market)
    replaced = dataclasses.replace(
        order,
        status=OrderStatus.REPLACED,
        replaced_at=now,
        replaced_by=replacement.id,
        updated_at=now,
        version=order.version + 1,
    )
    return ReplaceOutcome(
        replaced,
        replacement,
        None,
        OrderReplaced(order=to_snapshot(replaced), replacement=to_snapshot(replacement)),
    )


def _replacement(order: Order, command: ReplaceOrder, now: datetime) -> Order:
    """The new order the command asks for: the unset fields keep the order's values."""
    total = command.qty or order.qty
    with localcontext(EXACT):
        replacement_qty = None if total is None else total - order.filled_qty
    stop_price = command.stop_price or order.stop_price
    retrail = command.trail_price is not None or command.trail_percent is not None
    replacement = Order(
        id=command.new_order_id,
        account_id=order.account_id,
        client_order_id=command.client_order_id or order.client_order_id,
        symbol=order.symbol,
        side=order.side,
        type=order.type,
        qty=replacement_qty,
        limit_price=command.limit_price or order.limit_price,
        stop_price=stop_price,
        time_in_force=command.time_in_force or order.time_in_force,
        status=OrderStatus.NEW,
        submitted_at=command.requested_at,
        created_at=now,
        updated_at=now,
        accepted_at=now,
        # A stop that has triggered stays triggered unless the stop price itself changes (or,
        # for a trailing stop, its trail).
        stop_triggered_at=order.stop_triggered_at
        if stop_price == order.stop_price and not retrail
        else None,
        replaces=order.id,
        notional=order.notional,
        trail_price=order.trail_price,
        trail_percent=order.trail_percent,
        hwm=order.hwm,
    )
    # The mark goes on from where the order had it; a new trail moves the stop from there.
    return trailing.retrailed(replacement, command.trail_price, command.trail_percent)


def _replace_refusal(order: Order, command: ReplaceOrder) -> str | None:
    if order.status is OrderStatus.PENDING_NEW:
        return "order is pending_new; replace it once it is accepted"
    if not order.is_open:
        return f"order is already {order.status.value}"
    if order.order_class is not OrderClass.SIMPLE:
        return f"{order.order_class.value} orders cannot be replaced (cancel and place again)"
    if command.limit_price is not None and not order.type.needs_limit_price:
        return f"{order.type.value} orders have no limit_price"
    if command.stop_price is not None and not order.type.needs_stop_price:
        return f"{order.type.value} orders have no stop_price"
    retrail = command.trail_price is not None or command.trail_percent is not None
    if retrail and not order.type.is_trailing:
        return f"{order.type.value} orders have no trail"
    if command.trail_price is not None and command.trail_percent is not None:
        return "set one of trail_price or trail_percent, not both"
    if order.notional is not None:
        return "notional orders cannot be replaced; cancel it and place another"
    return None


def _refused(
    order: Order, command: ReplaceOrder, replacement: Order, code: str, reason: str
) -> ReplaceOutcome:
    rejected = dataclasses.replace(
        replacement,
        # Nothing left to replace (a filled order, a total already filled): the total asked.
        qty=replacement.qty
        if replacement.qty is not None and replacement.qty > 0
        else command.qty or order.qty,
        status=OrderStatus.REJECTED,
        accepted_at=None,
        rejected_at=replacement.created_at,
        stop_triggered_at=None,
        reject_reason=code,
    )
    return ReplaceOutcome(
        order,
        None,
        rejected,
        ReplaceRejected(order=to_snapshot(order), new_order_id=command.new_order_id, reason=reason),
    )


# --- day orders at the session end ---


def expires_at_session_end(order: Order, session_end_at: datetime) -> bool:
    """A working day order submitted before the session that ended at ``session_end_at``."""
    return (
        order.time_in_force is TimeInForce.DAY
        and order.is_working
        and order.submitted_at < session_end_at
    )


@dataclass(frozen=True)
class Expiry:
    order: Order
    event: OrderExpired


def expire(order: Order, now: datetime) -> Expiry:
    """The order expired: what it filled stays, the remainder will not trade."""
    expired = dataclasses.replace(
        order,
        status=OrderStatus.EXPIRED,
        expired_at=now,
        updated_at=now,
        version=order.version + 1,
    )
    return Expiry(expired, OrderExpired(order=to_snapshot(expired)))
