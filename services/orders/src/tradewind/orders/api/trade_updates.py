"""Internal HTTP API: an account's trade updates after a sequence, for the gateway's stream when
a client resumes (``resume_after``), or where the account stands when that is too far back."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Query

from tradewind.common.contracts.trade_updates import (
    TRADE_UPDATES_PAGE_LIMIT,
    RetainedTradeUpdate,
    TradeUpdatesPage,
)
from tradewind.common.envelope import CloudEvent
from tradewind.orders.api.routes import AccountIdPath, Runtime
from tradewind.orders.domain import to_snapshot

SNAPSHOT_MAX_ORDERS = 1000
"""Most open orders a page that cannot resume lists (the rest: the orders listing)."""

router = APIRouter(
    prefix="/internal/v1/accounts/{account_id}/trade-updates", tags=["trade updates"]
)


@router.get(
    "",
    summary="The account's trade updates after a sequence, oldest first",
    description=(
        "Every update numbered after `after`, in order and without gaps, a page at a time; or, "
        "when they are no longer all kept (or `after` is past the newest), `resumable: false` "
        "with the account's open orders as they stand at `last_sequence`."
    ),
)
async def trade_updates_after(
    account_id: AccountIdPath,
    runtime: Runtime,
    after: Annotated[int, Query(ge=0, le=2**63 - 1, description="The last sequence seen.")] = 0,
    limit: Annotated[int, Query(ge=1, le=TRADE_UPDATES_PAGE_LIMIT)] = 100,
) -> TradeUpdatesPage:
    read = await runtime.trade_updates.after(
        account_id, after, limit=limit, max_open_orders=SNAPSHOT_MAX_ORDERS
    )
    return TradeUpdatesPage(
        account_id=account_id,
        after=after,
        last_sequence=read.last_sequence,
        resumable=read.resumable,
        updates=[
            RetainedTradeUpdate(
                account_sequence=update.sequence,
                event=CloudEvent.model_validate(json.loads(update.body)),
            )
            for update in read.updates
        ],
        has_more=read.has_more,
        open_orders=None
        if read.open_orders is None
        else [to_snapshot(order) for order in read.open_orders],
        open_orders_truncated=read.open_orders_truncated,
    )
