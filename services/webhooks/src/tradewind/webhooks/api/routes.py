"""Internal HTTP API: the gateway forwards the caller's account in the path; operators use
``/internal/v1/operator``. Routes only translate HTTP to a use case and back."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import wraps
from typing import Annotated, Any, ParamSpec, TypeVar

from fastapi import APIRouter, Depends, Path, Query, Response, status

from tradewind.common.app import runtime_of
from tradewind.common.contracts.types import OPAQUE_ID_PATTERN, BigintId
from tradewind.common.contracts.types import AccountId as SharedAccountId
from tradewind.common.contracts.webhooks import (
    AttemptOut,
    AttemptPage,
    EndpointCreated,
    EndpointIn,
    EndpointList,
    EndpointOut,
    EndpointPatch,
    HealthOut,
    MessageQueued,
    RecoverIn,
    RecoverOut,
    SecretRotated,
)
from tradewind.common.problems import Problem
from tradewind.webhooks.adapters.reads import WebhookReads
from tradewind.webhooks.adapters.records import (
    Endpoint,
    EndpointLimitReached,
    EndpointNotFound,
    MessageNotFound,
)
from tradewind.webhooks.adapters.ssrf import DestinationRefused
from tradewind.webhooks.bootstrap import WebhooksRuntime
from tradewind.webhooks.handlers.use_cases import EndpointDisabled, EndpointService, EndpointSpec


def endpoint_out(endpoint: Endpoint, now: datetime | None = None) -> EndpointOut:
    health = endpoint.health
    return EndpointOut(
        id=endpoint.id,
        url=endpoint.url,
        description=endpoint.description,
        event_types=list(endpoint.event_types),
        enabled=endpoint.enabled,
        disabled_reason=endpoint.disabled_reason,
        health=HealthOut(
            circuit=health.effective_circuit(now or datetime.now(UTC)).value,
            consecutive_failures=health.consecutive_failures,
            open_until=health.open_until,
            failing_since=health.failing_since,
        ),
        previous_secret_expires_at=endpoint.previous_secret_expires_at,
        created_at=endpoint.created_at,
        updated_at=endpoint.updated_at,
    )


# --- dependencies ---


Runtime = Annotated[WebhooksRuntime, Depends(runtime_of(WebhooksRuntime))]


# Each route names the one part of the runtime it uses (a read goes to the reads, a change
# through the use cases). Async: no thread hop per request.
async def _endpoint_service(runtime: Runtime) -> EndpointService:
    return runtime.endpoint_service


async def _reads(runtime: Runtime) -> WebhookReads:
    return runtime.reads


ServiceDep = Annotated[EndpointService, Depends(_endpoint_service)]
ReadsDep = Annotated[WebhookReads, Depends(_reads)]
AccountId = Annotated[SharedAccountId, Path()]
EndpointId = Annotated[str, Path(pattern=OPAQUE_ID_PATTERN)]
MessageId = Annotated[str, Path(pattern=OPAQUE_ID_PATTERN)]
Limit = Annotated[int, Query(ge=1, le=200)]
Before = Annotated[BigintId | None, Query(description="Attempts older than this id.")]

P = ParamSpec("P")
R = TypeVar("R")


def _problems(route: Callable[P, Coroutine[Any, Any, R]]) -> Callable[P, Coroutine[Any, Any, R]]:
    """Translate use-case errors into RFC 9457 problems."""

    @wraps(route)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await route(*args, **kwargs)
        except EndpointNotFound:
            raise Problem(404, "Webhook endpoint not found.", kind="not-found") from None
        except MessageNotFound:
            raise Problem(404, "Message not found.", kind="not-found") from None
        except EndpointDisabled:
            raise Problem(
                409, "The endpoint is disabled.", "Enable it first.", kind="endpoint-disabled"
            ) from None
        except EndpointLimitReached as exc:
            raise Problem(409, "Too many endpoints.", str(exc), kind="limit-reached") from None
        except DestinationRefused as exc:
            raise Problem(
                422,
                "Your request is not valid.",
                "Invalid field(s): url.",
                kind="validation-error",
                errors=[{"field": "url", "in": "body", "message": exc.strerror}],
            ) from None

    return wrapper


@dataclass(frozen=True)
class AttemptQuery:
    """Filters and paging of an endpoint's attempts (query parameters)."""

    message_id: Annotated[str | None, Query(pattern=OPAQUE_ID_PATTERN)] = None
    succeeded: bool | None = None
    before: Before = None
    limit: Limit = 50


AttemptQueryDep = Annotated[AttemptQuery, Depends()]


async def _endpoint_attempts(
    reads: WebhookReads, account_id: str | None, endpoint_id: str, query: AttemptQuery
) -> AttemptPage:
    """``account_id`` None: an operator's view, across accounts."""
    await reads.get_endpoint(endpoint_id, account_id)
    attempts = await reads.list_attempts(
        account_id=account_id,
        endpoint_id=endpoint_id,
        message_id=query.message_id,
        succeeded=query.succeeded,
        before=query.before,
        limit=query.limit,
    )
    return _page(attempts, query.limit)


def _page(items: list[AttemptOut], limit: int) -> AttemptPage:
    return AttemptPage(items=items, next_before=items[-1].id if len(items) == limit else None)


# --- account routes ---

accounts = APIRouter(prefix="/internal/v1/accounts/{account_id}/webhooks", tags=["webhooks"])


@accounts.post("/endpoints", status_code=status.HTTP_201_CREATED, response_model=EndpointCreated)
@_problems
async def create_endpoint(
    account_id: AccountId, body: EndpointIn, service: ServiceDep
) -> EndpointCreated:
    spec = EndpointSpec(body.url, body.description, body.event_types, body.enabled)
    endpoint, secret = await service.create(account_id, spec)
    return EndpointCreated(**endpoint_out(endpoint).model_dump(), secret=secret)


@accounts.get("/endpoints", response_model=EndpointList)
async def list_endpoints(account_id: AccountId, reads: ReadsDep) -> EndpointList:
    endpoints = await reads.list_endpoints(account_id)
    return EndpointList(items=[endpoint_out(e) for e in endpoints])


@accounts.get("/endpoints/{endpoint_id}", response_model=EndpointOut)
@_problems
async def get_endpoint(
    account_id: AccountId, endpoint_id: EndpointId, reads: ReadsDep
) -> EndpointOut:
    return endpoint_out(await reads.get_endpoint(endpoint_id, account_id))


@accounts.patch("/endpoints/{endpoint_id}", response_model=EndpointOut)
@_problems
async def update_endpoint(
    account_id: AccountId, endpoint_id: EndpointId, body: EndpointPatch, service: ServiceDep
) -> EndpointOut:
    changes = body.model_dump(exclude_unset=True)
    return endpoint_out(await service.update(account_id, endpoint_id, changes))


@accounts.delete("/endpoints/{endpoint_id}", status_code=status.HTTP_204_NO_CONTENT)
@_problems
async def delete_endpoint(
    account_id: AccountId, endpoint_id: EndpointId, service: ServiceDep
) -> Response:
    await service.delete(account_id, endpoint_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@accounts.post("/endpoints/{endpoint_id}/rotate-secret", response_model=SecretRotated)
@_problems
async def rotate_secret(
    account_id: AccountId, endpoint_id: EndpointId, service: ServiceDep
) -> SecretRotated:
    endpoint, secret = await service.rotate_secret(account_id, endpoint_id)
    return SecretRotated(
        endpoint_id=endpoint.id,
        secret=secret,
        previous_secret_expires_at=endpoint.previous_secret_expires_at,
    )


@accounts.post(
    "/endpoints/{endpoint_id}/test",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=MessageQueued,
)
@_problems
async def send_test(
    account_id: AccountId, endpoint_id: EndpointId, service: ServiceDep
) -> MessageQueued:
    message_id = await service.send_test(account_id, endpoint_id)
    return MessageQueued(message_id=message_id, endpoint_id=endpoint_id, status="pending")


@accounts.get("/endpoints/{endpoint_id}/attempts", response_model=AttemptPage)
@_problems
async def list_endpoint_attempts(
    account_id: AccountId, endpoint_id: EndpointId, reads: ReadsDep, query: AttemptQueryDep
) -> AttemptPage:
    return await _endpoint_attempts(reads, account_id, endpoint_id, query)


@accounts.get("/messages/{message_id}/attempts", response_model=AttemptPage)
@_problems
async def list_message_attempts(
    account_id: AccountId,
    message_id: MessageId,
    reads: ReadsDep,
    before: Before = None,
    limit: Limit = 50,
) -> AttemptPage:
    if not await reads.message_exists(message_id, account_id):
        raise MessageNotFound(message_id)
    attempts = await reads.list_attempts(
        account_id=account_id, message_id=message_id, before=before, limit=limit
    )
    return _page(attempts, limit)


@accounts.post(
    "/endpoints/{endpoint_id}/messages/{message_id}/resend",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=MessageQueued,
)
@_problems
async def resend_message(
    account_id: AccountId, endpoint_id: EndpointId, message_id: MessageId, service: ServiceDep
) -> MessageQueued:
    state = await service.resend(account_id, endpoint_id, message_id)
    return MessageQueued(message_id=message_id, endpoint_id=endpoint_id, status=state)


@accounts.post("/endpoints/{endpoint_id}/recover", response_model=RecoverOut)
@_problems
async def recover_failed(
    account_id: AccountId, endpoint_id: EndpointId, body: RecoverIn, service: ServiceDep
) -> RecoverOut:
    recovered = await service.recover(account_id, endpoint_id, body.since, body.until)
    return RecoverOut(endpoint_id=endpoint_id, recovered=recovered)


# --- operator routes (no account scope; the gateway must not expose them to accounts) ---

operator = APIRouter(prefix="/internal/v1/operator/webhooks", tags=["webhooks operator"])


@operator.get("/endpoints/{endpoint_id}", response_model=EndpointOut)
@_problems
async def operator_get_endpoint(endpoint_id: EndpointId, reads: ReadsDep) -> EndpointOut:
    return endpoint_out(await reads.get_endpoint(endpoint_id, None))


@operator.get("/endpoints/{endpoint_id}/attempts", response_model=AttemptPage)
@_problems
async def operator_list_attempts(
    endpoint_id: EndpointId, reads: ReadsDep, query: AttemptQueryDep
) -> AttemptPage:
    return await _endpoint_attempts(reads, None, endpoint_id, query)


@operator.post(
    "/endpoints/{endpoint_id}/messages/{message_id}/resend",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=MessageQueued,
)
@_problems
async def operator_resend(
    endpoint_id: EndpointId, message_id: MessageId, service: ServiceDep
) -> MessageQueued:
    state = await service.resend(None, endpoint_id, message_id)
    return MessageQueued(message_id=message_id, endpoint_id=endpoint_id, status=state)


@operator.post("/endpoints/{endpoint_id}/recover", response_model=RecoverOut)
@_problems
async def operator_recover(
    endpoint_id: EndpointId, body: RecoverIn, service: ServiceDep
) -> RecoverOut:
    recovered = await service.recover(None, endpoint_id, body.since, body.until)
    return RecoverOut(endpoint_id=endpoint_id, recovered=recovered)


ROUTERS = (accounts, operator)
