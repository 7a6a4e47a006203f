"""The kill switch: an account's trading block, who may set and lift it, what it cancels.

Pure: the handlers load the account's block and open orders, and write what this decides.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from tradewind.common.contracts import (
    BlockTrading,
    OrderCanceled,
    TradingBlocked,
    TradingBlockedBy,
    TradingUnblocked,
    UnblockTrading,
)
from tradewind.orders.domain.orders import Order, cancel


@dataclass(frozen=True)
class TradingBlock:
    account_id: str
    reason: str
    blocked_by: TradingBlockedBy
    blocked_at: datetime


@dataclass(frozen=True)
class Blocking:
    block: TradingBlock
    """The block as it stands after the command (unchanged when it could not be weakened)."""
    canceled: list[tuple[Order, OrderCanceled]]
    event: TradingBlocked


def block_trading(
    current: TradingBlock | None,
    command: BlockTrading,
    open_orders: Iterable[Order],
    now: datetime,
) -> Blocking:
    """Block the account (or keep its block) and cancel every open order it still has.

    Blocking again is harmless and cancels what is open: an order that slipped in is caught. An
    account's own block does not replace an operator's, which only an operator lifts; an
    operator's block replaces the account's.
    """
    if current is not None and _outranks(current.blocked_by, command.blocked_by):
        block = current
    else:
        block = TradingBlock(
            command.account_id,
            command.reason,
            command.blocked_by,
            current.blocked_at if current is not None else now,
        )
    canceled = []
    for order in open_orders:
        if order.account_id != command.account_id:
            raise ValueError(f"order {order.id} is not an order of {command.account_id!r}")
        outcome = cancel(order, now)
        if isinstance(outcome.event, OrderCanceled):
            canceled.append((outcome.order, outcome.event))
    return Blocking(
        block,
        canceled,
        TradingBlocked(
            account_id=block.account_id,
            reason=block.reason,
            blocked_by=block.blocked_by,
            blocked_at=block.blocked_at,
            canceled_orders=len(canceled),
        ),
    )


def unblock_trading(
    current: TradingBlock | None, command: UnblockTrading, now: datetime
) -> TradingUnblocked | None:
    """The event of lifting the block, or None when there is none to lift or the requester may
    not lift it (an account, an operator's block)."""
    if current is None or _outranks(current.blocked_by, command.unblocked_by):
        return None
    return TradingUnblocked(
        account_id=command.account_id, unblocked_by=command.unblocked_by, unblocked_at=now
    )


def _outranks(holder: TradingBlockedBy, requester: TradingBlockedBy) -> bool:
    return holder is TradingBlockedBy.OPERATOR and requester is TradingBlockedBy.ACCOUNT
