"""Internal HTTP API: the orders and positions the gateway proxies, and the listed instruments."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from tradewind.common.app import runtime_of
from tradewind.common.contracts import (
    Instrument,
    OrderSnapshot,
    PositionSnapshot,
    TradingBlockStatus,
)
from tradewind.common.contracts.types import PAGE_TOKEN_PATTERN, AccountId, Symbol, UtcDateTime
from tradewind.common.http_paging import page_cursor
from tradewind.common.problems import MEDIA_TYPE, Problem
from tradewind.orders.adapters import PageCursor, StatusFilter
from tradewind.orders.bootstrap import OrdersRuntime
from tradewind.orders.domain import Order, Position, to_position_snapshot, to_snapshot

Runtime = Annotated[OrdersRuntime, Depends(runtime_of(OrdersRuntime))]
AccountIdPath = Annotated[AccountId, Path()]


class OrderResponse(OrderSnapshot):
    """An order as it stands now; decimals are strings."""

    @classmethod
    def of(cls, order: Order, legs: Sequence[Order] | None = None) -> OrderResponse:
        """The order, with its legs when it is the parent of a bracket, oco or oto order."""
        response = cls.model_validate(to_snapshot(order), from_attributes=True)
        if not legs:
            return response
        return response.model_copy(update={"legs": [to_snapshot(leg) for leg in legs]})


class OrderPageResponse(BaseModel):
    data: list[OrderResponse]
    next_page_token: str | None = Field(
        description="Pass as page_token for the next page; null on the last page."
    )


PROBLEM: dict[str, Any] = {"content": {MEDIA_TYPE: {}}}

router = APIRouter(prefix="/internal/v1/accounts/{account_id}/orders", tags=["orders"])


@router.get(
    "/{order_id}",
    summary="One order of the account",
    responses={404: {"description": "No such order for this account", **PROBLEM}},
)
async def get_order(account_id: AccountIdPath, order_id: UUID, runtime: Runtime) -> OrderResponse:
    order = await runtime.reads.order(account_id, order_id)
    if order is None:
        raise Problem(
            404,
            "Order not found",
            f"Account {account_id!r} has no order {order_id}.",
            kind="not-found",
        )
    legs = await runtime.reads.legs_of(account_id, [order])
    return OrderResponse.of(order, legs.get(order.id))


@router.get(
    "",
    summary="The account's orders, newest first",
    responses={400: {"description": "page_token is not valid", **PROBLEM}},
)
async def list_orders(
    account_id: AccountIdPath,
    runtime: Runtime,
    status: Annotated[
        StatusFilter,
        Query(description="An order status, or open (not terminal), closed (terminal) or all."),
    ] = StatusFilter.ALL,
    symbol: Annotated[Symbol | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    page_token: Annotated[str | None, Query(pattern=PAGE_TOKEN_PATTERN)] = None,
    updated_since: Annotated[
        UtcDateTime | None, Query(description="Only orders updated at or after this time.")
    ] = None,
) -> OrderPageResponse:
    cursor = page_cursor(page_token, PageCursor.decode)
    page = await runtime.reads.list_orders(
        account_id,
        status_filter=status,
        symbol=symbol,
        limit=limit,
        cursor=cursor,
        updated_since=updated_since,
    )
    legs = await runtime.reads.legs_of(account_id, page.orders)
    return OrderPageResponse(
        data=[OrderResponse.of(order, legs.get(order.id)) for order in page.orders],
        next_page_token=page.next_cursor.encode() if page.next_cursor else None,
    )


class PositionResponse(PositionSnapshot):
    """A position as it stands now: qty signed (negative is short), decimals are strings."""

    @classmethod
    def of(cls, position: Position) -> PositionResponse:
        return cls.model_validate(to_position_snapshot(position), from_attributes=True)


class PositionListResponse(BaseModel):
    data: list[PositionResponse]


positions_router = APIRouter(
    prefix="/internal/v1/accounts/{account_id}/positions", tags=["positions"]
)


@positions_router.get("", summary="The account's positions, by symbol")
async def list_positions(
    account_id: AccountIdPath,
    runtime: Runtime,
    include_closed: Annotated[
        bool, Query(description="Also list flat positions (qty 0), which keep their realized P&L.")
    ] = False,
) -> PositionListResponse:
    held = await runtime.reads.account_positions(account_id, include_flat=include_closed)
    return PositionListResponse(data=[PositionResponse.of(position) for position in held])


@positions_router.get(
    "/{symbol}",
    summary="The account's position in one symbol (flat if it traded and closed it)",
    responses={404: {"description": "The account never traded the symbol", **PROBLEM}},
)
async def get_position(
    account_id: AccountIdPath, symbol: Annotated[Symbol, Path()], runtime: Runtime
) -> PositionResponse:
    position = await runtime.reads.position(account_id, symbol)
    if position is None:
        raise Problem(
            404,
            "Position not found",
            f"Account {account_id!r} has no position in {symbol!r}.",
            kind="not-found",
        )
    return PositionResponse.of(position)


trading_block_router = APIRouter(
    prefix="/internal/v1/accounts/{account_id}/trading-block", tags=["accounts"]
)


@trading_block_router.get("", summary="Whether the account's trading is blocked (kill switch)")
async def get_trading_block(account_id: AccountIdPath, runtime: Runtime) -> TradingBlockStatus:
    block = await runtime.reads.trading_block(account_id)
    if block is None:
        return TradingBlockStatus(account_id=account_id, blocked=False)
    return TradingBlockStatus(
        account_id=account_id,
        blocked=True,
        reason=block.reason,
        blocked_by=block.blocked_by,
        blocked_at=block.blocked_at,
    )


class InstrumentListResponse(BaseModel):
    data: list[Instrument]


instruments_router = APIRouter(prefix="/internal/v1/instruments", tags=["instruments"])


@instruments_router.get("", summary="The instruments this service accepts orders for")
async def list_instruments(runtime: Runtime) -> InstrumentListResponse:
    return InstrumentListResponse(data=await runtime.reads.listed_instruments())


@instruments_router.get(
    "/{symbol}",
    summary="One instrument this service accepts orders for",
    responses={404: {"description": "The symbol has not been listed here", **PROBLEM}},
)
async def get_instrument(symbol: Annotated[Symbol, Path()], runtime: Runtime) -> Instrument:
    instrument = await runtime.reads.instrument(symbol)
    if instrument is None:
        raise Problem(
            404,
            "Instrument not found",
            f"No instrument.listed event has announced {symbol!r} to this service.",
            kind="not-found",
        )
    return instrument
