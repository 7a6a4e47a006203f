"""/api/v1/orders: writes become commands on the broker; reads are proxied to orders."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response, status
from fastapi.routing import APIRoute

from tradewind.common import flags
from tradewind.common.broker import (
    Broker,
    BrokerUnavailable,
    PublishRejected,
    PublishUnconfirmed,
)
from tradewind.common.contracts import CancelOrder, Contract, PlaceOrder
from tradewind.common.contracts.types import PAGE_TOKEN_PATTERN, UtcQueryDateTime
from tradewind.common.envelope import (
    CloudEvent,
    EncodedEvent,
    encoded_event,
    event_source,
    new_event,
)
from tradewind.common.flags import Feature
from tradewind.common.logging import request_id_var
from tradewind.common.problems import Problem
from tradewind.gateway.adapters.pending import PendingOrders
from tradewind.gateway.adapters.reads import OrderQuery, OrderReads
from tradewind.gateway.api.admission import IdempotencyOf
from tradewind.gateway.api.auth import require_scope
from tradewind.gateway.api.deps import BrokerDep, OrderReadsDep, PendingOrdersDep
from tradewind.gateway.domain.auth_model import Principal
from tradewind.gateway.domain.orders import (
    check_replace,
    new_order_id,
    new_order_id_text,
    order_class_refusal,
    pending_notice,
    pending_replacement_view,
    pending_view_json,
    place_command_json,
    replace_command,
)
from tradewind.gateway.domain.rate_limits import BudgetName
from tradewind.gateway.domain.schemas import (
    Order,
    OrderPage,
    OrderRequest,
    ReplaceRequest,
    StatusFilter,
    Symbol,
)

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1/orders", tags=["orders"])

SOURCE = event_source("gateway")
ReadOrders = Annotated[Principal, require_scope("orders:read")]
WRITE_SCOPE = "orders:write"
WRITE_BUDGET: BudgetName = "orders"
WriteOrders = Annotated[Principal, require_scope(WRITE_SCOPE, budget=WRITE_BUDGET)]

PROBLEM_RESPONSES: dict[int | str, dict[str, object]] = {
    code: {"content": {"application/problem+json": {}}, "description": text}
    for code, text in {
        401: "Missing or invalid API key",
        404: "No such order for this account",
        422: "Invalid request",
        502: "A service failed on this request; quote its request_id when reporting it",
        503: "A dependency is unavailable; retry after Retry-After seconds",
    }.items()
}


def _broker_unavailable(exc: BrokerUnavailable | PublishRejected) -> Problem:
    detail = (
        "The message broker did not confirm the request in time: it may or may not take effect. "
        "Retry it with the same Idempotency-Key: it then takes effect once, however often it is "
        "sent."
        if isinstance(exc, PublishUnconfirmed)
        else "The request could not be submitted because the message broker is unreachable. "
        "Nothing was changed; retry after the indicated delay."
    )
    return Problem(
        503, "Service Unavailable", detail, kind="broker-unavailable", headers={"Retry-After": "2"}
    )


def _require_order_entry(account_id: str) -> None:
    """The product flag gateway.orderEntryEnabled (on unless the flags file says otherwise): an
    account it is off for, by a rule on the account or a percentage rollout, places and
    replaces nothing. Cancels and closing positions still work: an account can always get out."""
    if not flags.enabled(Feature.GATEWAY_ORDER_ENTRY_ENABLED, account=account_id, default=True):
        raise Problem(
            403,
            "Order entry disabled",
            "Order entry is not enabled for this account. Cancels and closing positions work.",
            kind="order-entry-disabled",
        )


async def _find_order(principal: Principal, order_id: UUID, reads: OrderReads) -> Order:
    order = await reads.order(principal.account_id, order_id)
    if order is None:
        raise Problem(
            404, "Order not found", f"No order {order_id} in this account.", kind="not-found"
        )
    return order


async def place_order(
    body: OrderRequest,
    principal: WriteOrders,
    broker: BrokerDep,
    pending: PendingOrdersDep,
    idempotency: IdempotencyOf,
) -> Response:
    _require_order_entry(principal.account_id)
    now = datetime.now(UTC)
    order_id = new_order_id_text(principal.account_id, idempotency)
    refusal = order_class_refusal(body)
    if refusal is not None:
        field, message = refusal
        raise Problem(
            422,
            "Your request is not valid.",
            f"Invalid field(s): {field}. {field} {message}.",
            kind="validation-error",
            extensions={"errors": [{"field": field, "in": "body", "message": message}]},
        )
    # The command in its JSON form, made once: its envelope and its pending view are both
    # written from it (docs/performance.md, "One JSON form for the command, its envelope and its
    # view").
    data = place_command_json(body, account_id=principal.account_id, now=now, order_id=order_id)
    envelope = encoded_event(
        source=SOURCE,
        data=data,
        event_type=PlaceOrder.TYPE,
        time=now,
        subject=data["order_id"],
        account_id=principal.account_id,
        correlation_id=request_id_var.get(),
    )
    await publish_or_503(broker, envelope)
    return await _accepted(pending, principal.account_id, order_id, pending_view_json(data))


# The hottest route: declared here, served by api/direct_orders.py where it can be.
router.add_api_route(
    "",
    place_order,
    methods=["POST"],
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Order,
    responses=PROBLEM_RESPONSES,
    summary="Place an order",
)
PLACE_ORDER_ROUTE = next(
    route
    for route in router.routes
    if isinstance(route, APIRoute) and route.endpoint is place_order
)


@router.get(
    "/{order_id}", response_model=Order, responses=PROBLEM_RESPONSES, summary="Get an order"
)
async def get_order(order_id: UUID, principal: ReadOrders, reads: OrderReadsDep) -> Order:
    return await _find_order(principal, order_id, reads)


@router.get("", response_model=OrderPage, responses=PROBLEM_RESPONSES, summary="List orders")
async def list_orders(
    principal: ReadOrders,
    reads: OrderReadsDep,
    status_filter: Annotated[StatusFilter, Query(alias="status")] = "all",
    symbol: Annotated[Symbol | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    page_token: Annotated[str | None, Query(pattern=PAGE_TOKEN_PATTERN)] = None,
    updated_since: Annotated[UtcQueryDateTime | None, Query()] = None,
) -> OrderPage:
    query = OrderQuery(status_filter, symbol, limit, page_token, updated_since)
    return await reads.orders_page(principal.account_id, query)


@router.delete(
    "/{order_id}",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Order,
    responses=PROBLEM_RESPONSES,
    summary="Request cancellation of an order",
)
async def cancel_order(
    order_id: UUID,
    principal: WriteOrders,
    broker: BrokerDep,
    reads: OrderReadsDep,
) -> Order:
    order = await _find_order(principal, order_id, reads)
    if order.status.is_terminal:
        raise Problem(
            422,
            "Order cannot be canceled",
            f"The order is already {order.status.value}.",
            kind="order-not-cancelable",
            order_status=order.status.value,
        )
    command = CancelOrder(
        order_id=order_id, account_id=principal.account_id, requested_at=datetime.now(UTC)
    )
    await submit(
        broker, command, account_id=principal.account_id, subject=str(order_id), order=order
    )
    return order


async def submit(
    broker: Broker,
    command: Contract,
    *,
    account_id: str,
    subject: str,
    order: Order | None = None,
    priority: int | None = None,
) -> None:
    """Publish ``command`` (a 503 problem if it cannot be), at the AMQP ``priority`` if given; a
    cancel or replace of ``order`` is announced first (pending_cancel, pending_replace)."""
    envelope = new_event(
        source=SOURCE,
        data=command,
        event_type=command.TYPE,
        subject=subject,
        account_id=account_id,
        correlation_id=request_id_var.get(),
    )
    notice = None if order is None else pending_notice(command, order)
    if notice is not None:
        await _announce(broker, notice, account_id=account_id, subject=subject, cause=envelope)
    await publish_or_503(broker, envelope, priority=priority)


async def _announce(
    broker: Broker, notice: Contract, *, account_id: str, subject: str, cause: CloudEvent
) -> None:
    """Publish a pending_cancel / pending_replace notice before its command: on every stream
    queue it then precedes the orders service's decision. Advisory: if it cannot be published,
    the command is still sent (the stream shows the decision without the notice)."""
    event = new_event(
        source=SOURCE,
        data=notice,
        event_type=notice.TYPE,
        subject=subject,
        account_id=account_id,
        correlation_id=cause.correlationid,
        causation_id=cause.id,
    )
    try:
        await broker.publish_event(event, persistent=False)
    except (BrokerUnavailable, PublishRejected) as exc:
        log.warning("pending notice not published", extra={"type": event.type, "error": str(exc)})


async def publish_or_503(
    broker: Broker, command: CloudEvent | EncodedEvent, *, priority: int | None = None
) -> None:
    """Publish ``command`` with its confirm; the broker unreachable or silent is a 503 problem."""
    try:
        await broker.publish_command(command, priority=priority)
    except (BrokerUnavailable, PublishRejected) as exc:
        log.warning("command not submitted", extra={"type": command.type, "error": str(exc)})
        raise _broker_unavailable(exc) from exc


class AcceptedOrder(Response):
    """202 with the order's ``view`` (its JSON) and its Location: what ``Response(view,
    status_code=202, media_type="application/json", headers={"Location": ...})`` makes, header
    for header, with its headers written out rather than rendered from a mapping (a quarter of
    the time; once per order)."""

    media_type = "application/json"

    def __init__(self, view: bytes, order_id: UUID | str) -> None:
        self.status_code = status.HTTP_202_ACCEPTED
        self.background = None
        self.body = view
        self.raw_headers = [
            (b"location", f"/api/v1/orders/{order_id}".encode("latin-1")),
            (b"content-length", str(len(view)).encode("latin-1")),
            (b"content-type", b"application/json"),
        ]


async def _accepted(
    pending: PendingOrders, account_id: str, order_id: UUID | str, view: bytes
) -> Response:
    """Remember the order's pending ``view`` (its JSON) so reads never 404 before orders
    decides, and answer 202 with it.

    The view is serialized once, for Redis and for the answer (the route's response_model still
    documents it); letting FastAPI check and serialize it again cost a few percent per order.
    ``order_id`` may be its text already: the place route names its orders by text
    (``new_order_id_text``).
    """
    try:
        await pending.remember(account_id, order_id, view)
    except Exception:
        # The command is already on its way; failing the request now would invite a duplicate.
        log.exception("could not remember pending order", extra={"order_id": str(order_id)})
    return AcceptedOrder(view, order_id)


@router.patch(
    "/{order_id}",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Order,
    responses={**PROBLEM_RESPONSES, 409: {"description": "The order is still pending"}},
    summary="Replace an order (returns the pending replacement)",
)
async def replace_order(
    order_id: UUID,
    body: ReplaceRequest,
    principal: WriteOrders,
    broker: BrokerDep,
    reads: OrderReadsDep,
    pending: PendingOrdersDep,
    idempotency: IdempotencyOf,
) -> Response:
    _require_order_entry(principal.account_id)
    order = await _find_order(principal, order_id, reads)
    refusal = check_replace(order, body)
    if refusal is not None:
        extensions: dict[str, object] = (
            {"errors": [{"field": refusal.field, "in": "body", "message": refusal.detail}]}
            if refusal.field
            else {}
        )
        raise Problem(
            refusal.status,
            refusal.title,
            refusal.detail,
            kind="order-not-replaceable" if refusal.field is None else "validation-error",
            order_status=order.status.value,
            extensions=extensions,
        )
    command = replace_command(
        order,
        body,
        account_id=principal.account_id,
        now=datetime.now(UTC),
        new_order_id=new_order_id(principal.account_id, idempotency),
    )
    await submit(
        broker, command, account_id=principal.account_id, subject=str(order_id), order=order
    )
    view = pending_replacement_view(order, command)
    return await _accepted(pending, principal.account_id, view.id, view.model_dump_json().encode())
