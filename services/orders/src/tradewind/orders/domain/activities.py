"""Account activities (Alpaca's names): what happened to an account, one entry per event.

Fills (``FILL``) and the ledger's cash movements (``CSD`` deposits, ``CSW`` withdrawals), each
read from its own table and merged newest first here. Pure code: the figures of a fill as of
that fill (cumulative and leaves quantity, the order's status after it) are computed here from
what the store reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from uuid import UUID

from tradewind.common.contracts.types import OrderStatus, Side


class ActivityType(StrEnum):
    FILL = "FILL"
    DEPOSIT = "CSD"
    WITHDRAWAL = "CSW"


CASH_ACTIVITY_TYPES = frozenset({ActivityType.DEPOSIT, ActivityType.WITHDRAWAL})


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


@dataclass(frozen=True)
class CashActivity:
    """A deposit or withdrawal of the account ledger, as an activity."""

    id: UUID
    transaction_time: datetime
    activity_type: ActivityType
    net_amount: Decimal
    """Positive for a deposit, negative for a withdrawal."""
    description: str | None


Activity = FillActivity | CashActivity


def merge_newest_first(
    pages: Iterable[Sequence[Activity]], limit: int
) -> tuple[list[Activity], bool]:
    """The newest ``limit`` activities of several pages, each newest first from the same
    cursor, and whether some were left out. Ties in time are broken by id, as the stores'
    keysets break them, so the next page continues after the last one kept."""
    merged = sorted(
        (activity for page in pages for activity in page),
        key=lambda activity: (activity.transaction_time, activity.id),
        reverse=True,
    )
    return merged[:limit], len(merged) > limit
