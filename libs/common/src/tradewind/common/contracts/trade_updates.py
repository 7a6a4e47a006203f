"""An account's recent trade updates, as the orders service keeps them for stream clients that
reconnect (HTTP, orders → gateway): what was missed after a sequence, or where the account stands
when that is older than what is kept."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from tradewind.common.contracts.orders import OrderSnapshot
from tradewind.common.envelope import CloudEvent

TRADE_UPDATES_PAGE_LIMIT = 500
"""Most updates one page holds."""


class RetainedTradeUpdate(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    account_sequence: int = Field(ge=1)
    event: CloudEvent = Field(description="The order event as it was published.")


class TradeUpdatesPage(BaseModel):
    """The account's trade updates after ``after``, oldest first; or, when the updates right
    after ``after`` are no longer kept (or ``after`` is past the newest), not resumable: the
    account's open orders as they stand at ``last_sequence`` instead."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    account_id: str
    after: int = Field(ge=0)
    last_sequence: int = Field(
        ge=0, description="The account's newest trade update when read (0: none yet)."
    )
    resumable: bool = Field(
        description="Whether every update after `after` is still kept (`updates` starts there)."
    )
    updates: list[RetainedTradeUpdate] = Field(
        description="In sequence order, without gaps, from after + 1; empty if not resumable."
    )
    has_more: bool = Field(description="More updates follow the last of this page.")
    open_orders: list[OrderSnapshot] | None = Field(
        default=None,
        description=(
            "When not resumable: the account's open orders, read in the same snapshot as "
            "last_sequence, so every update after last_sequence is newer than them."
        ),
    )
    open_orders_truncated: bool = Field(
        default=False, description="More open orders exist than the snapshot holds."
    )
