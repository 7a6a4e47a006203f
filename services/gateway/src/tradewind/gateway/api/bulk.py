"""DELETE /api/v1/orders and DELETE /api/v1/positions: one request, one command per order.

Both answer 207 Multi-Status with one result per order (Alpaca's shape): ``status`` 202 when its
command is on its way (the outcome then arrives as for a single cancel or order), 503 with a
problem when it could not be sent. A client retries the failed ones, or the whole request: a
cancel sent twice ends in ``order.cancel_rejected``, and closing orders sent under the same
Idempotency-Key keep their ids, so the orders service places each once.

What is in the account is read from the orders service, page by page; the commands go out with
a bounded number of publishes in flight, so one request with thousands of open orders neither
floods the broker nor holds thousands of confirms at once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar
from uuid import UUID

from fastapi import APIRouter, status
from pydantic import BaseModel, Field

from tradewind.common.broker import Broker
from tradewind.common.contracts import CancelOrder, Contract
from tradewind.common.problems import Problem
from tradewind.gateway.adapters.pending import PendingOrders
from tradewind.gateway.adapters.reads import OrderQuery, OrderReads
from tradewind.gateway.api.admission import IdempotencyOf
from tradewind.gateway.api.deps import BrokerDep, OrderReadsDep, PendingOrdersDep
from tradewind.gateway.api.orders import PROBLEM_RESPONSES, WriteOrders, submit
from tradewind.gateway.domain.orders import closing_command, closing_order_id, pending_view
from tradewind.gateway.domain.schemas import Order

log = logging.getLogger(__name__)

orders_router = APIRouter(prefix="/api/v1/orders", tags=["orders"])
positions_router = APIRouter(prefix="/api/v1/positions", tags=["positions"])

PUBLISHES_IN_FLIGHT = 32
"""Commands of one bulk request awaiting their confirms at once."""
_PAGE = 500  # the orders service's largest page

_Item = TypeVar("_Item")


class ProblemBody(BaseModel):
    type: str
    title: str
    status: int
    detail: str | None = None


class CancelResult(BaseModel):
    id: UUID = Field(description="The order's id.")
    status: int = Field(description="202: the cancel is on its way; 503: not sent, retry it.")
    body: Order | ProblemBody = Field(
        description="The order as it stood when the cancel was sent, or why it was not sent."
    )


class CloseResult(BaseModel):
    symbol: str
    status: int = Field(description="202: the closing order is on its way; 503: not sent.")
    body: Order | ProblemBody = Field(
        description="The closing market order (pending_new), or why it was not sent."
    )


MULTI_STATUS: dict[int | str, dict[str, Any]] = {
    **PROBLEM_RESPONSES,
    207: {"description": "One result per order: its own status and body"},
}


@orders_router.delete(
    "",
    status_code=status.HTTP_207_MULTI_STATUS,
    response_model=list[CancelResult],
    responses=MULTI_STATUS,
    summary="Cancel every open order",
    description=(
        "Sends a cancel for each order of the account that is not terminal, and answers with "
        "one result per order. Orders still `pending_new` (not yet decided by the orders "
        "service) are not included: cancel them by id once accepted."
    ),
)
async def cancel_all_orders(
    principal: WriteOrders, broker: BrokerDep, reads: OrderReadsDep
) -> list[CancelResult]:
    return await cancel_open_orders(broker, reads, principal.account_id)


async def cancel_open_orders(
    broker: Broker, reads: OrderReads, account_id: str
) -> list[CancelResult]:
    """Send a cancel for every open order of the account; one result per order."""
    open_orders = [order async for order in _open_orders(reads, account_id)]

    async def cancel(order: Order) -> CancelResult:
        command = CancelOrder(
            order_id=order.id, account_id=account_id, requested_at=datetime.now(UTC)
        )
        failure = await _sent(
            broker, command, account_id=account_id, subject=str(order.id), order=order
        )
        if failure is not None:
            return CancelResult(id=order.id, status=failure.status, body=failure)
        return CancelResult(id=order.id, status=status.HTTP_202_ACCEPTED, body=order)

    results = await _bounded(open_orders, cancel)
    log.info(
        "cancel-all sent",
        extra={"account_id": account_id, "orders": len(results), "failed": _failed(results)},
    )
    return results


@positions_router.delete(
    "",
    status_code=status.HTTP_207_MULTI_STATUS,
    response_model=list[CloseResult],
    responses=MULTI_STATUS,
    summary="Close every position",
    description=(
        "Places a market day order against each open position, for its whole quantity. Send "
        "an Idempotency-Key: a retry then names the same closing orders, placed once. Open "
        "orders are left as they are (cancel them first with DELETE /api/v1/orders)."
    ),
)
async def close_all_positions(
    principal: WriteOrders,
    broker: BrokerDep,
    reads: OrderReadsDep,
    pending: PendingOrdersDep,
    idempotency: IdempotencyOf,
) -> list[CloseResult]:
    account_id = principal.account_id
    held = [p for p in (await reads.positions(account_id)).data if p.qty != Decimal(0)]

    async def close(symbol: str, qty: Decimal) -> CloseResult:
        command = closing_command(
            symbol,
            qty,
            account_id=account_id,
            now=datetime.now(UTC),
            order_id=closing_order_id(account_id, symbol, idempotency),
        )
        failure = await _sent(broker, command, account_id=account_id, subject=str(command.order_id))
        if failure is not None:
            return CloseResult(symbol=symbol, status=failure.status, body=failure)
        view = pending_view(command)
        await _remember(pending, account_id, view)
        return CloseResult(symbol=symbol, status=status.HTTP_202_ACCEPTED, body=view)

    results = await _bounded(held, lambda position: close(position.symbol, position.qty))
    log.info(
        "close-all sent",
        extra={"account_id": account_id, "positions": len(results), "failed": _failed(results)},
    )
    return results


async def _open_orders(reads: OrderReads, account_id: str) -> AsyncIterator[Order]:
    query = OrderQuery(status="open", limit=_PAGE)
    while True:
        page = await reads.orders_page(account_id, query)
        for order in page.data:
            yield order
        if page.next_page_token is None:
            return
        query = dataclasses.replace(query, page_token=page.next_page_token)


async def _sent(
    broker: Broker,
    command: Contract,
    *,
    account_id: str,
    subject: str,
    order: Order | None = None,
) -> ProblemBody | None:
    """Publish one command; the problem a single request would have answered, if it failed."""
    try:
        await submit(broker, command, account_id=account_id, subject=subject, order=order)
    except Problem as problem:
        return ProblemBody(
            type=f"urn:tradewind:problem:{problem.kind}",
            title=problem.title,
            status=problem.status,
            detail=problem.detail,
        )
    return None


async def _remember(pending: PendingOrders, account_id: str, view: Order) -> None:
    try:
        await pending.remember(account_id, view.id, view.model_dump_json())
    except Exception:
        # The command is on its way: failing the whole request now would invite a duplicate.
        log.exception("could not remember pending order", extra={"order_id": str(view.id)})


_Result = TypeVar("_Result")


async def _bounded(
    items: Sequence[_Item], send: Callable[[_Item], Awaitable[_Result]]
) -> list[_Result]:
    """``send`` each item, at most ``PUBLISHES_IN_FLIGHT`` at once; results in item order."""
    gate = asyncio.Semaphore(PUBLISHES_IN_FLIGHT)

    async def one(item: _Item) -> _Result:
        async with gate:
            return await send(item)

    return list(await asyncio.gather(*(one(item) for item in items)))


def _failed(results: Sequence[Any]) -> int:
    return sum(1 for result in results if result.status != status.HTTP_202_ACCEPTED)
