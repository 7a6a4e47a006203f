"""Internal HTTP API: the account's ledger (what the gateway's ``GET /api/v1/account`` shows) and
the operator's deposits and withdrawals, which appear as activities ``CSD`` and ``CSW``.

Like every internal route these need the internal credential (the app's middleware); a deposit
is meant for operators and demos, not for clients: the gateway does not proxy it.
"""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from fastapi import APIRouter, Response, status

from tradewind.common.contracts.account import AccountView, CashMovementRequest
from tradewind.common.contracts.activities import CashActivityView
from tradewind.common.contracts.types import utc_now
from tradewind.common.problems import Problem
from tradewind.orders.adapters.ledger import CashMovementConflict
from tradewind.orders.api.routes import PROBLEM, AccountIdPath, Runtime
from tradewind.orders.domain import contract_decimal
from tradewind.orders.domain.ledger import (
    CashMovement,
    CashMovementRefused,
    CashMovementType,
    value_account,
)

router = APIRouter(prefix="/internal/v1/accounts/{account_id}", tags=["accounts"])


@router.get("", summary="The account's ledger: cash, buying power, equity and P&L")
async def get_account(account_id: AccountIdPath, runtime: Runtime) -> AccountView:
    state = await runtime.ledgers.state(account_id)
    valuation = value_account(
        state.ledger, state.positions, state.marks, runtime.settings.reference_prices
    )
    return AccountView(
        account_id=account_id,
        cash=contract_decimal(state.ledger.cash),
        equity=contract_decimal(valuation.equity),
        buying_power=contract_decimal(state.ledger.buying_power),
        held_for_orders=contract_decimal(state.ledger.held_for_orders),
        long_market_value=contract_decimal(valuation.long_market_value),
        short_market_value=contract_decimal(valuation.short_market_value),
        position_market_value=contract_decimal(valuation.position_market_value),
        realized_pl=contract_decimal(valuation.realized_pl),
        unrealized_pl=contract_decimal(valuation.unrealized_pl),
        trading_blocked=state.trading_blocked,
    )


_MOVEMENT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "A movement with this id was recorded before; nothing was applied"},
    409: {"description": "The id names another account's movement", **PROBLEM},
}


@router.post(
    "/deposits",
    status_code=status.HTTP_201_CREATED,
    summary="Deposit cash (operators and demos)",
    responses=_MOVEMENT_RESPONSES,
)
async def deposit(
    account_id: AccountIdPath, body: CashMovementRequest, runtime: Runtime, response: Response
) -> CashActivityView:
    return await _move(account_id, body, CashMovementType.DEPOSIT, runtime, response)


@router.post(
    "/withdrawals",
    status_code=status.HTTP_201_CREATED,
    summary="Withdraw cash (operators and demos): never more than the cash or buying power",
    responses={
        **_MOVEMENT_RESPONSES,
        409: {
            "description": "More than the cash or the buying power, or the id names another "
            "account's movement",
            **PROBLEM,
        },
    },
)
async def withdraw(
    account_id: AccountIdPath, body: CashMovementRequest, runtime: Runtime, response: Response
) -> CashActivityView:
    return await _move(account_id, body, CashMovementType.WITHDRAWAL, runtime, response)


async def _move(
    account_id: str,
    body: CashMovementRequest,
    kind: CashMovementType,
    runtime: Runtime,
    response: Response,
) -> CashActivityView:
    movement = CashMovement(
        id=body.id or uuid4(),
        account_id=account_id,
        type=kind,
        amount=body.amount,
        description=body.description,
        created_at=utc_now(),
    )
    try:
        outcome = await runtime.ledgers.record(movement)
    except CashMovementConflict:
        raise Problem(
            409,
            "Movement id in use",
            f"Cash movement {movement.id} belongs to another account.",
            kind="conflict",
        ) from None
    if isinstance(outcome, CashMovementRefused):
        raise Problem(
            409, "Insufficient buying power", outcome.reason, kind="insufficient-buying-power"
        )
    if outcome.repeated:
        response.status_code = status.HTTP_200_OK
    recorded = outcome.movement
    return CashActivityView(
        id=recorded.id,
        activity_type=recorded.type.value,
        transaction_time=recorded.created_at,
        net_amount=recorded.net_amount,
        description=recorded.description,
    )
