"""/api/v1/positions: the account's positions, proxied to the orders service."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from tradewind.gateway.api.auth import require_scope
from tradewind.gateway.api.deps import OrderReadsDep
from tradewind.gateway.api.orders import PROBLEM_RESPONSES
from tradewind.gateway.domain.auth_model import Principal
from tradewind.gateway.domain.schemas import Position, PositionList, Symbol

router = APIRouter(prefix="/api/v1/positions", tags=["positions"])
ReadPositions = Annotated[Principal, require_scope("positions:read")]


@router.get("", response_model=PositionList, responses=PROBLEM_RESPONSES, summary="List positions")
async def list_positions(principal: ReadPositions, reads: OrderReadsDep) -> PositionList:
    return await reads.positions(principal.account_id)


@router.get(
    "/{symbol}", response_model=Position, responses=PROBLEM_RESPONSES, summary="Get a position"
)
async def get_position(symbol: Symbol, principal: ReadPositions, reads: OrderReadsDep) -> Position:
    return await reads.position(principal.account_id, symbol)
