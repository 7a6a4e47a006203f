"""Decimal arithmetic for money and quantities: exact where it can be, bounded where it must be."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Context, Decimal

from tradewind.common.contracts.types import MAX_DECIMAL_DIGITS, MAX_DECIMAL_PLACES

# Quantities and prices carry at most 18 significant digits, so a product has at most 36 and a sum
# of many products a few more; 60 digits keeps every product and sum exact (the default context
# rounds at 28) and makes the one inexact operation, a division for an average, negligible.
EXACT = Context(prec=60, rounding=ROUND_HALF_EVEN)

_ONE = Decimal(1)


def contract_decimal(value: Decimal) -> Decimal:
    """``value`` rounded (half even) to what a contract's DecimalStr holds.

    That is at most 9 decimal places and 18 significant digits. Averages and realized P&L are kept
    exact in the database and rounded only here, when they leave the service.
    """
    places = MAX_DECIMAL_PLACES
    integer_digits = max(value.adjusted() + 1, 0) if value else 0
    places = max(0, min(places, MAX_DECIMAL_DIGITS - integer_digits))
    rounded = value.quantize(_ONE.scaleb(-places, EXACT), rounding=ROUND_HALF_EVEN, context=EXACT)
    normalized = rounded.normalize(EXACT)
    # normalize() writes 100 as 1E+2; keep the plain integer so the value reads as it means.
    _, _, exponent = normalized.as_tuple()
    if isinstance(exponent, int) and exponent > 0:
        return normalized.quantize(_ONE, context=EXACT)
    return normalized
