"""Internal HTTP API the gateway proxies order reads to."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tradewind.common.contracts import OrderSnapshot
from tradewind.common.contracts.types import UtcDateTime
from tradewind.common.problems import MEDIA_TYPE, Problem
from tradewind.orders.domain import Order
from tradewind.orders.store import (
    InvalidPageToken,
    OrderStore,
    PageCursor,
    StatusFilter,
)


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    sessions: async_sessionmaker[AsyncSession] = request.app.state.sessions
    async with sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(_session)]


async def _store(session: SessionDep) -> OrderStore:
    return OrderStore(session)


StoreDep = Annotated[OrderStore, Depends(_store)]


class OrderResponse(OrderSnapshot):
    """An order as it stands now; decimals are strings."""

    @classmethod
    def of(cls, order: Order) -> OrderResponse:
        return cls.model_validate(order, from_attributes=True)


class OrderPageResponse(BaseModel):
    data: list[OrderResponse]
    next_page_token: str | None = Field(
        description="Pass as page_token for the next page; null on the last page."
    )


_PROBLEM: dict[str, Any] = {"content": {MEDIA_TYPE: {}}}

router = APIRouter(prefix="/internal/v1/accounts/{account_id}/orders", tags=["orders"])


@router.get(
    "/{order_id}",
    summary="One order of the account",
    responses={404: {"description": "No such order for this account", **_PROBLEM}},
)
async def get_order(account_id: str, order_id: UUID, store: StoreDep) -> OrderResponse:
    order = await store.get(account_id, order_id)
    if order is None:
        raise Problem(
            404,
            "Order not found",
            f"Account {account_id!r} has no order {order_id}.",
            kind="not-found",
        )
    return OrderResponse.of(order)


@router.get(
    "",
    summary="The account's orders, newest first",
    responses={400: {"description": "page_token is not valid", **_PROBLEM}},
)
async def list_orders(
    account_id: str,
    store: StoreDep,
    status: Annotated[
        StatusFilter,
        Query(description="An order status, or open (not terminal), closed (terminal) or all."),
    ] = StatusFilter.ALL,
    symbol: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    page_token: Annotated[str | None, Query(max_length=512)] = None,
    updated_since: Annotated[
        UtcDateTime | None, Query(description="Only orders updated at or after this time.")
    ] = None,
) -> OrderPageResponse:
    cursor = None
    if page_token is not None:
        try:
            cursor = PageCursor.decode(page_token)
        except InvalidPageToken as exc:
            raise Problem(400, "Invalid page token", str(exc), kind="invalid-page-token") from exc
    page = await store.list_orders(
        account_id,
        status_filter=status,
        symbol=symbol,
        limit=limit,
        cursor=cursor,
        updated_since=updated_since,
    )
    return OrderPageResponse(
        data=[OrderResponse.of(order) for order in page.orders],
        next_page_token=page.next_cursor.encode() if page.next_cursor else None,
    )
