"""The account ledger: cash, what open buy orders hold of it, and what the account is worth.

Pure: no I/O, no clock. Cash and held value are kept per account and moved incrementally by the
write paths (a fill moves cash, an order's hold changes with it: ``Order.held_value``), so no
decision ever adds up the account's open orders; equity and P&L are derived from the account's
positions and the latest quotes when the account is read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, localcontext
from enum import StrEnum
from uuid import UUID

from tradewind.common.contracts.types import Side
from tradewind.orders.domain.decimals import EXACT
from tradewind.orders.domain.matching import Execution
from tradewind.orders.domain.positions import Position

ZERO = Decimal(0)
DEFAULT_INITIAL_CASH = Decimal(100_000)
"""The cash an account starts with (the setting's default, TRADEWIND_ORDERS_INITIAL_CASH)."""


@dataclass(frozen=True)
class Ledger:
    """An account's cash and what its open buy orders hold of it."""

    account_id: str
    cash: Decimal
    held_for_orders: Decimal = ZERO

    @property
    def buying_power(self) -> Decimal:
        """What a new buy may hold: the cash its open buy orders do not hold already."""
        with localcontext(EXACT):
            return self.cash - self.held_for_orders

    def moved(self, *, cash: Decimal = ZERO, held: Decimal = ZERO) -> Ledger:
        with localcontext(EXACT):
            return Ledger(self.account_id, self.cash + cash, self.held_for_orders + held)


def cash_change(execution: Execution) -> Decimal:
    """What a fill does to its account's cash: a buy pays qty x price, a sell receives it."""
    with localcontext(EXACT):
        value = execution.qty * execution.price
    return -value if execution.side is Side.BUY else value


# --- deposits and withdrawals ---


class CashMovementType(StrEnum):
    """Alpaca's activity types of cash movements."""

    DEPOSIT = "CSD"
    WITHDRAWAL = "CSW"


@dataclass(frozen=True)
class CashMovement:
    id: UUID
    account_id: str
    type: CashMovementType
    amount: Decimal
    """Positive: what was deposited or withdrawn."""
    description: str | None
    created_at: datetime

    @property
    def net_amount(self) -> Decimal:
        return self.amount if self.type is CashMovementType.DEPOSIT else -self.amount


@dataclass(frozen=True)
class CashMovementRefused:
    reason: str


def move_cash(ledger: Ledger, movement: CashMovement) -> Ledger | CashMovementRefused:
    """The ledger after the movement, or why it is refused.

    A withdrawal may take neither more than the cash (cash never goes negative by a withdrawal)
    nor more than the buying power (what open buy orders hold stays covered).
    """
    if movement.amount <= 0:
        return CashMovementRefused(f"amount must be positive, not {movement.amount:f}")
    if movement.type is CashMovementType.WITHDRAWAL:
        available = min(ledger.cash, ledger.buying_power)
        if movement.amount > available:
            return CashMovementRefused(
                f"withdrawal of {movement.amount:f} exceeds what can be withdrawn: cash "
                f"{ledger.cash:f}, buying power {ledger.buying_power:f}"
            )
    return ledger.moved(cash=movement.net_amount)


# --- what the account is worth ---


@dataclass(frozen=True)
class Mark:
    """The latest quote of a symbol, as the service last processed it."""

    bid: Decimal | None
    ask: Decimal | None


def mark_price(mark: Mark | None, reference: Decimal | None) -> Decimal | None:
    """The price a position is valued at: the mid of the latest quote (one side if only one is
    known), else the configured reference price; None if neither exists."""
    if mark is not None and mark.bid is not None and mark.ask is not None:
        with localcontext(EXACT):
            return (mark.bid + mark.ask) / 2
    if mark is not None and (mark.bid is not None or mark.ask is not None):
        return mark.bid if mark.bid is not None else mark.ask
    return reference


@dataclass(frozen=True)
class AccountValuation:
    ledger: Ledger
    long_market_value: Decimal
    short_market_value: Decimal
    """Negative or zero: what buying back the short positions would cost."""
    realized_pl: Decimal
    unrealized_pl: Decimal

    @property
    def position_market_value(self) -> Decimal:
        with localcontext(EXACT):
            return self.long_market_value + self.short_market_value

    @property
    def equity(self) -> Decimal:
        with localcontext(EXACT):
            return self.ledger.cash + self.position_market_value


def value_account(
    ledger: Ledger,
    positions: Iterable[Position],
    marks: Mapping[str, Mark],
    reference_prices: Mapping[str, Decimal],
) -> AccountValuation:
    """Equity and P&L of the account: every position at its mark (``mark_price``). A position
    with no price at all is valued at what it cost, so it adds no unrealized P&L."""
    long_value = short_value = realized = unrealized = ZERO
    with localcontext(EXACT):
        for position in positions:
            realized += position.realized_pl
            if not position.qty:
                continue
            price = mark_price(marks.get(position.symbol), reference_prices.get(position.symbol))
            # cost_basis is |qty| x average entry: signed like the position, it is what it cost.
            cost = position.cost_basis if position.qty > 0 else -position.cost_basis
            value = cost if price is None else position.qty * price
            if position.qty > 0:
                long_value += value
            else:
                short_value += value
            unrealized += value - cost
    return AccountValuation(ledger, long_value, short_value, realized, unrealized)
