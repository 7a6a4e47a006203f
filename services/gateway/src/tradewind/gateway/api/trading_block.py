"""/api/v1/account/trading-block: the account's own kill switch.

PUT blocks the account: the orders service cancels its open orders and rejects its new orders
and replaces (``account_blocked``) until DELETE lifts the block. Both are commands, answered 202;
GET reads the block as the orders service holds it. An operator's block (set with
``python -m tradewind.orders.trading_block``) is lifted only by an operator: DELETE answers 403.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field

from tradewind.common.contracts import (
    BlockTrading,
    TradingBlockedBy,
    TradingBlockStatus,
    UnblockTrading,
)
from tradewind.common.contracts.orders import TradingBlockReason
from tradewind.common.problems import Problem
from tradewind.gateway.api.deps import BrokerDep, OrderReadsDep
from tradewind.gateway.api.orders import PROBLEM_RESPONSES, ReadOrders, WriteOrders, submit

router = APIRouter(prefix="/api/v1/account", tags=["account"])


class BlockRequest(BaseModel):
    """Send ``{}`` to block with the default reason."""

    model_config = ConfigDict(extra="forbid")

    reason: TradingBlockReason = Field(
        default="blocked by the account", examples=["stepping away from the desk"]
    )


@router.get(
    "/trading-block",
    response_model=TradingBlockStatus,
    responses=PROBLEM_RESPONSES,
    summary="Whether the account's trading is blocked (the kill switch)",
)
async def get_trading_block(principal: ReadOrders, reads: OrderReadsDep) -> TradingBlockStatus:
    return await reads.trading_block(principal.account_id)


@router.put(
    "/trading-block",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=TradingBlockStatus,
    responses=PROBLEM_RESPONSES,
    summary="Block the account's trading: cancel its open orders, refuse new ones",
)
async def block_trading(
    body: BlockRequest, principal: WriteOrders, broker: BrokerDep
) -> TradingBlockStatus:
    reason = body.reason
    now = datetime.now(UTC)
    command = BlockTrading(
        account_id=principal.account_id,
        reason=reason,
        blocked_by=TradingBlockedBy.ACCOUNT,
        requested_at=now,
    )
    await submit(broker, command, account_id=principal.account_id, subject=principal.account_id)
    return TradingBlockStatus(
        account_id=principal.account_id,
        blocked=True,
        reason=reason,
        blocked_by=TradingBlockedBy.ACCOUNT,
        blocked_at=now,
    )


@router.delete(
    "/trading-block",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=TradingBlockStatus,
    responses={
        **PROBLEM_RESPONSES,
        403: {"description": "An operator's block, which only an operator lifts"},
    },
    summary="Lift the account's own trading block",
)
async def unblock_trading(
    principal: WriteOrders, broker: BrokerDep, reads: OrderReadsDep
) -> TradingBlockStatus:
    current = await reads.trading_block(principal.account_id)
    if current.blocked_by is TradingBlockedBy.OPERATOR:
        raise Problem(
            403,
            "Blocked by an operator",
            "An operator blocked this account's trading; only an operator can lift it.",
            kind="blocked-by-operator",
        )
    command = UnblockTrading(
        account_id=principal.account_id,
        unblocked_by=TradingBlockedBy.ACCOUNT,
        requested_at=datetime.now(UTC),
    )
    await submit(broker, command, account_id=principal.account_id, subject=principal.account_id)
    return TradingBlockStatus(account_id=principal.account_id, blocked=False)
