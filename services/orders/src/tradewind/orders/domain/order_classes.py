"""Order classes: bracket, oco and oto orders, the state machine of a parent and its legs.

Pure: the handlers load a group (the parent and its legs) under the locks the matching path
takes, and write what these functions return in the same transaction as the change that caused
it (docs/orders.md, "Order classes").

- **Placing.** The parent and its legs are placed together, accepted or rejected together. A
  leg is a full order (its own id, derived from the parent's; ``parent_id``; the parent's class,
  time in force and quantity), built from its spec by ``build_leg``.
- **Held legs.** The exits of a bracket or oto are ``held`` while their entry can still trade:
  held is not a working status, so no quote reads them (the matching indexes cover working
  orders only). When the entry is done — filled, or ended by a cancel or the session end — the
  legs become ``new`` for the quantity the entry filled, or are canceled with it if it filled
  nothing. The exits and their entry therefore never work at the same time, and the quantity an
  exit protects never changes under it.
- **One cancels other.** The exits of a group (a bracket's two legs; an oco's parent and leg)
  share one quantity: a fill of one reduces every other open exit by the filled quantity, and an
  exit left with nothing to fill is canceled. At most one exit of a group trades on a quote: an
  exit that would trade after another of its group did is taken out of that quote's matching
  (``match_quote_in_groups``), so both can never fill, whatever the prices.
- **Cancel.** Canceling the entry settles its legs as above (held legs are canceled, or become
  working for what the entry filled). Canceling an exit cancels the group's other open orders.
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
    LegRole,
    OrderAccepted,
    PlaceOrder,
    Quote,
    RejectReason,
    StopLoss,
    TakeProfit,
    leg_order_id,
)
from tradewind.common.contracts.order_classes import exit_side, place_violation
from tradewind.common.contracts.types import OrderClass, OrderStatus, OrderType
from tradewind.orders.domain import trailing
from tradewind.orders.domain.decimals import EXACT
from tradewind.orders.domain.matching import Match, SymbolBook, match_quote
from tradewind.orders.domain.orders import (
    CancelOutcome,
    MarketView,
    Order,
    RiskRules,
    as_rejected,
    cancel,
    first_violation,
    place,
    rejection_event,
    to_snapshot,
    valuation_price,
)

ACTIVATED_BY_ENTRY = frozenset({OrderClass.BRACKET, OrderClass.OTO})
"""Classes whose parent is an entry and whose legs are held until it is done."""
LEGS_PER_CLASS = {OrderClass.BRACKET: 2, OrderClass.OTO: 1, OrderClass.OCO: 1}


# --- legs ---


@dataclass(frozen=True)
class LegSpec:
    """What a leg is, before it is an order: its role, type and prices."""

    role: LegRole
    type: OrderType
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    trail_price: Decimal | None = None
    trail_percent: Decimal | None = None


def take_profit_leg(take_profit: TakeProfit) -> LegSpec:
    return LegSpec(LegRole.TAKE_PROFIT, OrderType.LIMIT, limit_price=take_profit.limit_price)


def stop_loss_leg(stop_loss: StopLoss) -> LegSpec:
    """The stop-loss leg: a stop, a stop-limit with a limit price, or a trailing stop carrying
    its trail (its mark is set when it activates: ``_settle_held_leg``)."""
    if stop_loss.trailing:
        return LegSpec(
            LegRole.STOP_LOSS,
            OrderType.TRAILING_STOP,
            trail_price=stop_loss.trail_price,
            trail_percent=stop_loss.trail_percent,
        )
    if stop_loss.limit_price is not None:
        return LegSpec(
            LegRole.STOP_LOSS,
            OrderType.STOP_LIMIT,
            limit_price=stop_loss.limit_price,
            stop_price=stop_loss.stop_price,
        )
    return LegSpec(LegRole.STOP_LOSS, OrderType.STOP, stop_price=stop_loss.stop_price)


def leg_specs(command: PlaceOrder) -> list[LegSpec]:
    """The legs a place command asks for; an oco's take-profit is the parent itself."""
    specs: list[LegSpec] = []
    if command.take_profit is not None and command.order_class is not OrderClass.OCO:
        specs.append(take_profit_leg(command.take_profit))
    if command.stop_loss is not None:
        specs.append(stop_loss_leg(command.stop_loss))
    return specs


def build_leg(parent: Order, spec: LegSpec) -> Order:
    """The leg ``spec`` of ``parent``: an exit for the parent's quantity, held until the entry
    is done (bracket, oto) or working at once (oco)."""
    held = parent.order_class in ACTIVATED_BY_ENTRY
    return Order(
        id=leg_order_id(parent.id, spec.role),
        account_id=parent.account_id,
        client_order_id=None,
        symbol=parent.symbol,
        side=exit_side(parent.order_class, parent.side),
        type=spec.type,
        qty=parent.qty,
        limit_price=spec.limit_price,
        stop_price=spec.stop_price,
        trail_price=spec.trail_price,
        trail_percent=spec.trail_percent,
        time_in_force=parent.time_in_force,
        status=OrderStatus.HELD if held else OrderStatus.NEW,
        submitted_at=parent.submitted_at,
        created_at=parent.created_at,
        updated_at=parent.updated_at,
        accepted_at=parent.accepted_at,
        order_class=parent.order_class,
        parent_id=parent.id,
    )


# --- placing ---


@dataclass(frozen=True)
class GroupPlacement:
    orders: tuple[Order, ...]
    """The parent first, then its legs: all accepted, or all rejected."""
    events: tuple[Contract, ...]
    """One ``order.accepted`` or ``order.rejected`` per order, in the same order."""


def place_group(
    command: PlaceOrder,
    rules: RiskRules,
    market: MarketView,
    *,
    client_order_id_in_use: bool,
    now: datetime,
    trading_blocked: bool = False,
    buying_power: Decimal | None = None,
) -> GroupPlacement:
    """Place an order of any class: the parent's checks, the class's rules, then each leg's
    checks (listing, prices, increments, notional); the first that fails rejects them all.

    Only the parent is checked against ``buying_power`` and holds it (the account ledger):
    legs are exits, and an oco's second exit can trade only if the first does not."""
    placement = place(
        command,
        rules,
        market,
        client_order_id_in_use=client_order_id_in_use,
        now=now,
        trading_blocked=trading_blocked,
        buying_power=buying_power,
    )
    parent = placement.order
    specs = leg_specs(command)
    violation = place_violation(command)
    if violation is not None and parent.status is not OrderStatus.REJECTED:
        field, message = violation
        return _rejected(parent, specs, RejectReason.INVALID_ORDER, f"{field} {message}", now)
    if not specs:
        return GroupPlacement((parent,), (placement.event,))
    if parent.status is OrderStatus.REJECTED:
        reason = RejectReason(parent.reject_reason or RejectReason.INVALID_ORDER)
        message = getattr(placement.event, "message", reason.value)
        return _rejected(parent, specs, reason, message, now)
    legs = [build_leg(parent, spec) for spec in specs]
    leg_rules = _valuing_legs_at_the_entry(rules, parent, market)
    for spec, leg in zip(specs, legs, strict=True):
        leg_violation = first_violation(leg, leg_rules, market, client_order_id_in_use=False)
        if leg_violation is not None:
            reason, message = leg_violation
            return _rejected(parent, specs, reason, f"{spec.role.value} leg: {message}", now)
    orders = (parent, *legs)
    return GroupPlacement(orders, tuple(OrderAccepted(order=to_snapshot(o)) for o in orders))


def _valuing_legs_at_the_entry(rules: RiskRules, parent: Order, market: MarketView) -> RiskRules:
    """``rules`` in which a leg with nothing else to value it at (no quote, no reference price:
    a trailing stop-loss has no stop price yet) is valued at its entry's price, the price of
    the position it will close."""
    symbol = parent.symbol
    if market.bid is not None or symbol in rules.reference_prices:
        return rules
    entry_price = valuation_price(parent, rules, market)
    if entry_price is None:
        return rules
    return dataclasses.replace(
        rules, reference_prices={**rules.reference_prices, symbol: entry_price}
    )


def _rejected(
    parent: Order, specs: list[LegSpec], reason: RejectReason, message: str, now: datetime
) -> GroupPlacement:
    rejected_parent = as_rejected(parent, reason, now)
    orders = [rejected_parent]
    for spec in specs:
        leg = build_leg(dataclasses.replace(parent, accepted_at=None), spec)
        orders.append(as_rejected(leg, reason, now))
    return GroupPlacement(
        tuple(orders), tuple(rejection_event(order, reason, message) for order in orders)
    )


# --- the group ---


def group_key(order: Order) -> UUID | None:
    """The id of the group the order belongs to (its parent's), or None for a simple order."""
    if order.parent_id is not None:
        return order.parent_id
    return None if order.order_class is OrderClass.SIMPLE else order.id


@dataclass(frozen=True)
class OrderGroup:
    """A parent and its legs, as one transaction sees them."""

    parent: Order
    legs: tuple[Order, ...]

    @property
    def id(self) -> UUID:
        return self.parent.id

    @property
    def members(self) -> tuple[Order, ...]:
        return (self.parent, *self.legs)

    @property
    def entry(self) -> Order | None:
        """The entry of a bracket or oto (the parent); an oco has none."""
        return self.parent if self.parent.order_class in ACTIVATED_BY_ENTRY else None

    @property
    def exits(self) -> tuple[Order, ...]:
        """The orders that share the exit quantity: one fill reduces the others."""
        return self.legs if self.entry is not None else self.members

    @property
    def complete(self) -> bool:
        return len(self.legs) == LEGS_PER_CLASS.get(self.parent.order_class, 0)

    def member(self, order_id: UUID) -> Order:
        for order in self.members:
            if order.id == order_id:
                return order
        raise KeyError(f"order {order_id} is not in group {self.id}")

    def with_order(self, order: Order) -> OrderGroup:
        if order.id == self.parent.id:
            return dataclasses.replace(self, parent=order)
        return dataclasses.replace(
            self, legs=tuple(order if leg.id == order.id else leg for leg in self.legs)
        )


def groups_of(orders: Iterable[Order]) -> dict[UUID, OrderGroup]:
    """The complete groups among ``orders``, by parent id; legs in role order (take-profit
    first). A group whose parent is missing is left out."""
    parents: dict[UUID, Order] = {}
    legs: dict[UUID, list[Order]] = {}
    for order in orders:
        if order.parent_id is not None:
            legs.setdefault(order.parent_id, []).append(order)
        elif order.order_class is not OrderClass.SIMPLE:
            parents[order.id] = order
    return {
        parent_id: OrderGroup(parent, tuple(sorted(legs.get(parent_id, []), key=_role_order)))
        for parent_id, parent in parents.items()
    }


def _role_order(leg: Order) -> bool:
    return leg.type is not OrderType.LIMIT  # the take-profit (a limit) before the stop-loss


@dataclass(frozen=True)
class GroupChange:
    """A change of a group's order that another order of the group caused."""

    order: Order
    event: Contract | None
    """What to announce (None: a reduced quantity, a change without an event, as a trigger)."""
    event_id: str


def follow(before: OrderGroup, after: OrderGroup, now: datetime) -> list[GroupChange]:
    """What the group's other orders do now that some of its orders went from ``before`` to
    ``after``: held legs activated or canceled when the entry is done, the other exits reduced
    (or canceled) by an exit's fill. ``after`` is the group with those changes applied."""
    changes: dict[UUID, GroupChange] = {}
    current = after
    entry_before, entry_after = before.entry, after.entry
    entry_done = (
        entry_before is not None
        and entry_after is not None
        and entry_before.is_open
        and not entry_after.is_open
    )
    if entry_done and entry_after is not None:
        for leg in current.legs:
            if leg.status is OrderStatus.HELD:
                change = _settle_held_leg(leg, entry_after, now)
                changes[leg.id] = change
                current = current.with_order(change.order)
    for exit_before in before.exits:
        exit_after = current.member(exit_before.id)
        with localcontext(EXACT):
            traded = exit_after.filled_qty - exit_before.filled_qty
        if traded <= 0:
            continue
        for other in current.exits:
            if other.id == exit_before.id or not other.is_open:
                continue
            change = _reduced(other, traded, cause=exit_after, now=now)
            changes[other.id] = change
            current = current.with_order(change.order)
    return list(changes.values())


def _settle_held_leg(leg: Order, entry: Order, now: datetime) -> GroupChange:
    if entry.filled_qty > 0:
        working = dataclasses.replace(
            leg,
            status=OrderStatus.NEW,
            qty=entry.filled_qty,
            accepted_at=now,
            updated_at=now,
            version=leg.version + 1,
        )
        # A trailing stop-loss trails from the price the position was opened at; later quotes
        # move its mark as for any trailing stop.
        working = trailing.started(working, entry.filled_avg_price)
        return GroupChange(
            working,
            OrderAccepted(order=to_snapshot(working)),
            str(uuid.uuid5(leg.id, "activated")),
        )
    canceled = cancel(leg, now)
    return GroupChange(
        canceled.order, canceled.event, str(uuid.uuid5(leg.id, f"canceled-with:{entry.id}"))
    )


def _group_qty(order: Order) -> Decimal:
    """A group's order's quantity: always set, since the class rules refuse notional groups."""
    if order.qty is None:
        raise ValueError(f"order {order.id} of an order group has no qty")
    return order.qty


def _reduced(other: Order, traded: Decimal, *, cause: Order, now: datetime) -> GroupChange:
    """``other`` after its sibling ``cause`` traded ``traded``: smaller, or canceled."""
    with localcontext(EXACT):
        qty = _group_qty(other) - traded
        left = qty - other.filled_qty
    if left > 0:
        smaller = dataclasses.replace(other, qty=qty, updated_at=now, version=other.version + 1)
        return GroupChange(smaller, None, "")
    canceled = cancel(other, now)
    event_id = uuid.uuid5(other.id, f"canceled-by:{cause.id}:{cause.filled_qty}")
    return GroupChange(canceled.order, canceled.event, str(event_id))


def cancel_in_group(
    group: OrderGroup, order_id: UUID, now: datetime
) -> tuple[CancelOutcome, list[GroupChange]]:
    """Cancel one order of a group, and what that does to the others: the entry's legs are
    settled (``follow``); an exit (held or working) takes the group's other open orders with it."""
    target = group.member(order_id)
    outcome = cancel(target, now)
    if not outcome.changed:
        return outcome, []
    after = group.with_order(outcome.order)
    entry = group.entry
    if entry is not None and entry.id == order_id:
        return outcome, follow(group, after, now)
    changes: list[GroupChange] = []
    for other in after.members:
        if other.id == order_id or not other.is_open:
            continue
        canceled = cancel(other, now)
        event_id = uuid.uuid5(other.id, f"canceled-with:{order_id}")
        changes.append(GroupChange(canceled.order, canceled.event, str(event_id)))
    return outcome, changes


# --- quotes ---


def conflicting_exits(match: Match, groups: Mapping[UUID, OrderGroup]) -> set[UUID]:
    """Exits that trade in ``match`` after another exit of their group did (in priority)."""
    traded: set[UUID] = set()
    losers: set[UUID] = set()
    for change in match.changes:
        key = group_key(change.order)
        if change.execution is None or key is None or key not in groups:
            continue
        if change.order.id not in {order.id for order in groups[key].exits}:
            continue
        if key in traded:
            losers.add(change.order.id)
        else:
            traded.add(key)
    return losers


def match_quote_in_groups(
    book: SymbolBook,
    quote: Quote,
    working: Iterable[Order],
    groups: Mapping[UUID, OrderGroup],
    now: datetime,
    *,
    lot_size: Decimal | None = None,
) -> Match:
    """``match_quote``, with at most one exit of each group trading: an exit that would trade
    after another of its group is taken out and the quote matched again (the first exit in
    priority keeps its fill; its siblings are settled by ``follow``). Each round takes out at
    least one order, so this ends; with no group among ``working`` it is one ``match_quote``."""
    candidates = list(working)
    while True:
        match = match_quote(book, quote, candidates, now, lot_size=lot_size)
        losers = conflicting_exits(match, groups)
        if not losers:
            return match
        candidates = [order for order in candidates if order.id not in losers]
