"""Trailing stops: the high-water mark follows the market and the stop price follows it.

A sell trailing stop protects a long position: its high-water mark ``hwm`` is the highest bid
seen since it was accepted, and its stop price sits ``trail_price`` below it (or
``trail_percent`` percent below it). A buy trailing stop mirrors it on the ask: ``hwm`` is the
lowest ask, the stop above it. When the quote crosses the stop (sell: bid <= stop; buy:
ask >= stop) the order triggers and works as a market order (matching does that, as for a stop).

The mark only ever moves in the order's favour, so a quote moves it or triggers the order,
never both: a bid above the mark raises it, and a bid at or above the mark cannot be at or below
a stop that lies below the mark. Pure: no I/O, no clock.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, localcontext
from typing import TYPE_CHECKING

from tradewind.common.contracts.types import MAX_DECIMAL_PLACES, Side
from tradewind.orders.domain.decimals import EXACT

if TYPE_CHECKING:  # orders.py uses this module; the Order is only a type here
    from tradewind.orders.domain.orders import Order

_HUNDRED = Decimal(100)
_SMALLEST_PLACE = Decimal(1).scaleb(-MAX_DECIMAL_PLACES)


def market_price(side: Side, bid: Decimal, ask: Decimal) -> Decimal:
    """The side of the quote a trailing stop of ``side`` follows: the bid for a sell (what it
    would sell at), the ask for a buy."""
    return bid if side is Side.SELL else ask


def stop_price(
    side: Side, hwm: Decimal, trail_price: Decimal | None, trail_percent: Decimal | None
) -> Decimal:
    """The stop ``trail_price`` (or ``trail_percent`` percent) away from ``hwm``, on the side
    that protects: below for a sell, above for a buy.

    A percentage can give more places than a contract carries; it is rounded away from the
    market (a sell's stop down, a buy's up), so the order never triggers earlier than asked.
    """
    with localcontext(EXACT):
        if trail_price is not None:
            return hwm - trail_price if side is Side.SELL else hwm + trail_price
        if trail_percent is None:
            raise ValueError("a trailing stop needs a trail_price or a trail_percent")
        factor = (_HUNDRED - trail_percent if side is Side.SELL else _HUNDRED + trail_percent) / (
            _HUNDRED
        )
        exact = hwm * factor
        rounding = ROUND_FLOOR if side is Side.SELL else ROUND_CEILING
        return exact.quantize(_SMALLEST_PLACE, rounding=rounding).normalize(EXACT)


def improves(side: Side, hwm: Decimal | None, price: Decimal) -> bool:
    """Whether ``price`` is a new mark: above it for a sell, below it for a buy."""
    if hwm is None:
        return True
    return price > hwm if side is Side.SELL else price < hwm


def started(order: Order, price: Decimal | None) -> Order:
    """A trailing stop as accepted: its mark starts at the market ``price`` (None: unknown yet,
    the first quote sets it)."""
    if not order.type.is_trailing or price is None:
        return order
    return dataclasses.replace(
        order,
        hwm=price,
        stop_price=stop_price(order.side, price, order.trail_price, order.trail_percent),
    )


def follow(order: Order, bid: Decimal, ask: Decimal, now: datetime) -> Order:
    """The order after a quote moved its mark (a change: version + 1), or the order itself."""
    price = market_price(order.side, bid, ask)
    if not order.type.is_trailing or not improves(order.side, order.hwm, price):
        return order
    return dataclasses.replace(
        order,
        hwm=price,
        stop_price=stop_price(order.side, price, order.trail_price, order.trail_percent),
        updated_at=now,
        version=order.version + 1,
    )


def retrailed(order: Order, trail_price: Decimal | None, trail_percent: Decimal | None) -> Order:
    """A replacement with a new trail keeps the mark and moves the stop by the new trail."""
    if trail_price is None and trail_percent is None:
        return order
    moved = dataclasses.replace(order, trail_price=trail_price, trail_percent=trail_percent)
    if moved.hwm is None:
        return moved
    return dataclasses.replace(
        moved, stop_price=stop_price(order.side, moved.hwm, trail_price, trail_percent)
    )
