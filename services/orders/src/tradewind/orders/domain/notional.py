"""Notional orders: a dollar amount instead of a quantity, sized when the order trades.

A notional market order buys (or sells) as many lots as the amount pays for at the price it
trades at: ``notional / price`` rounded down to the instrument's lot size, so it never spends
more than asked. Fractional lot sizes (0.001) make fractional quantities. Pure.
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal, localcontext

from tradewind.common.contracts.types import MAX_DECIMAL_PLACES
from tradewind.orders.domain.decimals import EXACT

_SMALLEST_PLACE = Decimal(1).scaleb(-MAX_DECIMAL_PLACES)


def sized_qty(notional: Decimal, price: Decimal, lot_size: Decimal | None) -> Decimal:
    """The quantity ``notional`` pays for at ``price``, rounded down to whole lots (without a
    lot size, to the places a contract carries); 0 when it pays for less than one lot."""
    if price <= 0:
        raise ValueError(f"cannot size a notional order at the price {price:f}")
    with localcontext(EXACT):
        exact = notional / price
        if lot_size:
            lots = (exact / lot_size).to_integral_value(rounding=ROUND_FLOOR)
            qty = lots * lot_size
        else:
            qty = exact.quantize(_SMALLEST_PLACE, rounding=ROUND_FLOOR)
        return qty.normalize(EXACT) if qty else Decimal(0)


def too_small(notional: Decimal, price: Decimal, lot_size: Decimal | None) -> str | None:
    """Why ``notional`` buys nothing at ``price``, or None."""
    if sized_qty(notional, price, lot_size) > 0:
        return None
    lot = f"one lot ({lot_size:f})" if lot_size else "the smallest quantity"
    return f"notional {notional:f} buys less than {lot} at {price:f}"
