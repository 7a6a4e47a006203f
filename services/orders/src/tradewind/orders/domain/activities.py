"""Account activities (Alpaca's names): what happened to an account, one entry per event.

Only fills exist so far (``FILL``); cash movements join them when the account ledger exists,
which is why listings already take a set of activity types. Pure code: the figures of a fill
as of that fill (cumulative and leaves quantity, the order's status after it) are computed here
from what the store reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from uuid import UUID

from tradewind.common.contracts.types import OrderStatus, Side


class ActivityType(StrEnum):
    FILL = "FILL"


class FillType(StrEnum):
    """Alpaca's ``type`` of a FILL: whether it completed the order."""

    FILL = "fill"
    PARTIAL_FILL = "partial_fill"


@dataclass(frozen=True)
class FillRecord:
    """An execution as the store reads it, with its order's quantity and the order's
    cumulative quantity up to and including this execution."""

    execution_id: UUID
    order_id: UUID
    symbol: str
    side: Side
    qty: Decimal
    price: Decimal
    executed_at: datetime
    order_qty: Decimal
    cum_qty: Decimal


@dataclass(frozen=True)
class FillActivity:
    id: UUID
    transaction_time: datetime
    order_id: UUID
    symbol: str
    side: Side
    qty: Decimal
    price: Decimal
    cum_qty: Decimal
    leaves_qty: Decimal
    type: FillType
    order_status: OrderStatus
    activity_type: ActivityType = ActivityType.FILL


def fill_activity(record: FillRecord) -> FillActivity:
    """The FILL activity of an execution: leaves and status as they stood right after it."""
    leaves = max(record.order_qty - record.cum_qty, Decimal(0))
    completed = leaves == 0
    return FillActivity(
        id=record.execution_id,
        transaction_time=record.executed_at,
        order_id=record.order_id,
        symbol=record.symbol,
        side=record.side,
        qty=record.qty,
        price=record.price,
        cum_qty=record.cum_qty,
        leaves_qty=leaves,
        type=FillType.FILL if completed else FillType.PARTIAL_FILL,
        order_status=OrderStatus.FILLED if completed else OrderStatus.PARTIALLY_FILLED,
    )
