"""Positions per account and symbol, valued at average cost. Pure: no I/O, no clock."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, localcontext

from tradewind.common.contracts import PositionSnapshot
from tradewind.common.contracts.types import Side
from tradewind.orders.domain.decimals import EXACT, contract_decimal

ZERO = Decimal(0)


@dataclass(frozen=True)
class Position:
    account_id: str
    symbol: str
    qty: Decimal
    """Signed: negative is short."""
    cost_basis: Decimal
    """What the open quantity cost: |qty| x average entry price, kept exact (0 when flat)."""
    realized_pl: Decimal
    updated_at: datetime

    @classmethod
    def flat(cls, account_id: str, symbol: str, now: datetime) -> Position:
        return cls(account_id, symbol, ZERO, ZERO, ZERO, now)

    @property
    def avg_entry_price(self) -> Decimal:
        """Average price of the open quantity (0 when flat), rounded as a contract carries it."""
        if not self.qty:
            return ZERO
        with localcontext(EXACT):
            return contract_decimal(self.cost_basis / abs(self.qty))


def apply_fill(
    position: Position, side: Side, qty: Decimal, price: Decimal, now: datetime
) -> Position:
    """The position after buying or selling ``qty`` at ``price``.

    A fill in the direction of the position (or from flat) adds to it at its price. A fill against
    it closes up to the open quantity at the average entry price, realizing the difference; what
    is left of the fill beyond that opens a position the other way at the fill price.
    """
    with localcontext(EXACT):
        signed = qty if side is Side.BUY else -qty
        if not position.qty or (position.qty > 0) == (signed > 0):
            return dataclasses.replace(
                position,
                qty=position.qty + signed,
                cost_basis=position.cost_basis + qty * price,
                updated_at=now,
            )
        held = abs(position.qty)
        closed = min(qty, held)
        # Closing all of it takes all of the cost: no division, so nothing is left over.
        closed_cost = position.cost_basis if closed == held else position.cost_basis * closed / held
        long = position.qty > 0
        gain = closed * price - closed_cost if long else closed_cost - closed * price
        opened = qty - closed
        if opened:
            qty_after = opened if signed > 0 else -opened
            cost_after = opened * price
        else:
            qty_after = position.qty + signed
            cost_after = position.cost_basis - closed_cost
        return dataclasses.replace(
            position,
            qty=qty_after,
            cost_basis=cost_after,
            realized_pl=position.realized_pl + gain,
            updated_at=now,
        )


def to_position_snapshot(position: Position) -> PositionSnapshot:
    return PositionSnapshot(
        account_id=position.account_id,
        symbol=position.symbol,
        qty=position.qty,
        avg_entry_price=position.avg_entry_price,
        realized_pl=contract_decimal(position.realized_pl),
        updated_at=position.updated_at,
    )
