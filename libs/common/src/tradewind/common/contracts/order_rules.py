"""Which fields an order of a type takes: the one rule the gateway and the orders service check.

The gateway refuses an inconsistent request with a 422 naming the field; the orders service
rejects a command that contradicts itself whoever sent it (``invalid_order``). Both ask this
module, so they can never disagree on what is consistent.

Alpaca's rules: exactly one of ``qty`` or ``notional``; ``notional`` only on market day orders;
``limit_price`` for limit and stop_limit, ``stop_price`` for stop and stop_limit; a
trailing_stop takes exactly one of ``trail_price`` or ``trail_percent`` and is day or gtc.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from tradewind.common.contracts.types import OrderType, TimeInForce

TRAILING_TIMES_IN_FORCE = frozenset({TimeInForce.DAY, TimeInForce.GTC})


class Terms(Protocol):
    """What the rules read: an ``OrderTerms``, or any order with these fields (the gateway's
    request)."""

    @property
    def type(self) -> OrderType: ...
    @property
    def time_in_force(self) -> TimeInForce: ...
    @property
    def qty(self) -> Decimal | None: ...
    @property
    def notional(self) -> Decimal | None: ...
    @property
    def limit_price(self) -> Decimal | None: ...
    @property
    def stop_price(self) -> Decimal | None: ...
    @property
    def trail_price(self) -> Decimal | None: ...
    @property
    def trail_percent(self) -> Decimal | None: ...


@dataclass(frozen=True)
class OrderTerms:
    """The fields of an order that must fit together."""

    type: OrderType
    time_in_force: TimeInForce
    qty: Decimal | None = None
    notional: Decimal | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    trail_price: Decimal | None = None
    trail_percent: Decimal | None = None


def _time_in_force(terms: Terms) -> str | None:
    if terms.type.is_trailing and terms.time_in_force not in TRAILING_TIMES_IN_FORCE:
        return "trailing_stop orders are day or gtc"
    return None


def _qty(terms: Terms) -> str | None:
    # Only a market order may trade a notional instead; its missing qty is the notional's rule.
    if terms.qty is None and terms.type is not OrderType.MARKET:
        return f"{terms.type.value} orders need a qty"
    return None


def _notional(terms: Terms) -> str | None:
    if terms.notional is None:
        missing = terms.qty is None and terms.type is OrderType.MARKET
        return "one of qty or notional is required" if missing else None
    if terms.qty is not None:
        return "set one of qty or notional, not both"
    if terms.type is not OrderType.MARKET:
        return "notional orders are market orders"
    if terms.time_in_force is not TimeInForce.DAY:
        return "notional orders are day orders"
    return None


def _price_if_needed(
    field: str, needed: bool, price: Decimal | None, type_: OrderType
) -> str | None:
    """A price that some order types need and every other type must leave out."""
    if needed and price is None:
        return f"{type_.value} orders need a {field}"
    if not needed and price is not None:
        return f"{type_.value} orders have no {field}"
    return None


def _limit_price(terms: Terms) -> str | None:
    return _price_if_needed(
        "limit_price", terms.type.needs_limit_price, terms.limit_price, terms.type
    )


def _stop_price(terms: Terms) -> str | None:
    return _price_if_needed("stop_price", terms.type.needs_stop_price, terms.stop_price, terms.type)


def _trail_price(terms: Terms) -> str | None:
    if not terms.type.is_trailing and terms.trail_price is not None:
        return f"{terms.type.value} orders have no trail_price"
    return None


def _trail_percent(terms: Terms) -> str | None:
    if not terms.type.is_trailing:
        if terms.trail_percent is not None:
            return f"{terms.type.value} orders have no trail_percent"
        return None
    if terms.trail_price is not None and terms.trail_percent is not None:
        return "set one of trail_price or trail_percent, not both"
    if terms.trail_price is None and terms.trail_percent is None:
        return "trailing_stop orders need a trail_price or a trail_percent"
    return None


FIELD_RULES: dict[str, Callable[[Terms], str | None]] = {
    "time_in_force": _time_in_force,
    "notional": _notional,
    "qty": _qty,
    "limit_price": _limit_price,
    "stop_price": _stop_price,
    "trail_price": _trail_price,
    "trail_percent": _trail_percent,
}
"""Per field, why its value does not fit the rest of the order; in the order they are checked.
Each rule reads only the fields before it in a request body (the gateway validates field by
field) plus its own; and of those only the order's type, its time in force and whether each
other field is set, never a value (``inconsistency`` keeps its answers by that)."""


def field_inconsistency(field: str, terms: OrderTerms) -> str | None:
    """Why ``field`` does not fit the order, or None (a field without a rule always fits)."""
    rule = FIELD_RULES.get(field)
    return None if rule is None else rule(terms)


def inconsistency(terms: Terms) -> tuple[str, str] | None:
    """The first field that does not fit the order and why, or None.

    Kept per shape of order (its type, its time in force, which fields are set), what every
    rule reads: a few hundred shapes exist, and the gateway asks once per order (seven rule
    calls, a quarter of its order's validation; tests/unit/common/test_order_rules_memo.py holds
    the kept answers to the rules')."""
    shape = (
        terms.type,
        terms.time_in_force,
        terms.qty is None,
        terms.notional is None,
        terms.limit_price is None,
        terms.stop_price is None,
        terms.trail_price is None,
        terms.trail_percent is None,
    )
    try:
        return _BY_SHAPE[shape]
    except KeyError:
        pass
    # Bounded: the rules read the enums' members (anything else fails them), and six flags.
    found = _BY_SHAPE[shape] = _first_inconsistency(terms)
    return found


_BY_SHAPE: dict[tuple[object, ...], tuple[str, str] | None] = {}


def _first_inconsistency(terms: Terms) -> tuple[str, str] | None:
    for field, rule in FIELD_RULES.items():
        problem = rule(terms)
        if problem is not None:
            return field, problem
    return None
