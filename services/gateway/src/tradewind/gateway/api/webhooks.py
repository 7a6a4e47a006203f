"""/api/v1/webhooks: partner endpoints and their deliveries, proxied to the webhooks service.

The webhooks service validates bodies (URL safety, event filters) with the same shared models;
the gateway parses them too, so a malformed request never leaves the gateway.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response, status

from tradewind.common.contracts.types import OPAQUE_ID_PATTERN, BigintId, QueryBool
from tradewind.common.contracts.webhooks import (
    AttemptPage,
    EndpointCreated,
    EndpointIn,
    EndpointList,
    EndpointOut,
    EndpointPatch,
    MessageQueued,
    RecoverIn,
    RecoverOut,
    SecretRotated,
)
from tradewind.gateway.adapters.upstream import ServiceClient, query_params, unwrap
from tradewind.gateway.api.auth import require_scope
from tradewind.gateway.api.deps import WebhooksServiceDep
from tradewind.gateway.api.orders import PROBLEM_RESPONSES
from tradewind.gateway.domain.auth_model import Principal

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])
ReadWebhooks = Annotated[Principal, require_scope("webhooks:read")]
WriteWebhooks = Annotated[Principal, require_scope("webhooks:write", budget="webhooks")]
TestWebhooks = Annotated[Principal, require_scope("webhooks:write", budget="webhook-tests")]
# Ids are opaque tokens from the webhooks service; the pattern keeps them out of path tricks.
EndpointId = Annotated[str, Path(pattern=OPAQUE_ID_PATTERN)]
MessageId = Annotated[str, Path(pattern=OPAQUE_ID_PATTERN)]


async def _call(
    webhooks: ServiceClient,
    principal: Principal,
    method: str,
    path: str,
    *,
    json: Any = None,
    params: dict[str, str] | None = None,
) -> Any:
    response = await webhooks.request(
        method,
        f"/internal/v1/accounts/{principal.account_id}/webhooks{path}",
        json=json,
        params=params,
    )
    return unwrap(response)


@router.post(
    "/endpoints",
    status_code=status.HTTP_201_CREATED,
    response_model=EndpointCreated,
    responses=PROBLEM_RESPONSES,
    summary="Register an endpoint (its signing secret is shown once)",
)
async def create_endpoint(
    body: EndpointIn, principal: WriteWebhooks, webhooks: WebhooksServiceDep
) -> EndpointCreated:
    created = await _call(
        webhooks, principal, "POST", "/endpoints", json=body.model_dump(mode="json")
    )
    return EndpointCreated.model_validate(created)


@router.get("/endpoints", response_model=EndpointList, responses=PROBLEM_RESPONSES)
async def list_endpoints(principal: ReadWebhooks, webhooks: WebhooksServiceDep) -> EndpointList:
    return EndpointList.model_validate(await _call(webhooks, principal, "GET", "/endpoints"))


@router.get("/endpoints/{endpoint_id}", response_model=EndpointOut, responses=PROBLEM_RESPONSES)
async def get_endpoint(
    endpoint_id: EndpointId, principal: ReadWebhooks, webhooks: WebhooksServiceDep
) -> EndpointOut:
    body = await _call(webhooks, principal, "GET", f"/endpoints/{endpoint_id}")
    return EndpointOut.model_validate(body)


@router.patch("/endpoints/{endpoint_id}", response_model=EndpointOut, responses=PROBLEM_RESPONSES)
async def update_endpoint(
    endpoint_id: EndpointId,
    body: EndpointPatch,
    principal: WriteWebhooks,
    webhooks: WebhooksServiceDep,
) -> EndpointOut:
    changes = body.model_dump(mode="json", exclude_unset=True)
    updated = await _call(webhooks, principal, "PATCH", f"/endpoints/{endpoint_id}", json=changes)
    return EndpointOut.model_validate(updated)


@router.delete(
    "/endpoints/{endpoint_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=PROBLEM_RESPONSES,
)
async def delete_endpoint(
    endpoint_id: EndpointId, principal: WriteWebhooks, webhooks: WebhooksServiceDep
) -> Response:
    await _call(webhooks, principal, "DELETE", f"/endpoints/{endpoint_id}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/endpoints/{endpoint_id}/rotate-secret",
    response_model=SecretRotated,
    responses=PROBLEM_RESPONSES,
    summary="Issue a new secret; the old one keeps signing during the overlap",
)
async def rotate_secret(
    endpoint_id: EndpointId, principal: WriteWebhooks, webhooks: WebhooksServiceDep
) -> SecretRotated:
    body = await _call(webhooks, principal, "POST", f"/endpoints/{endpoint_id}/rotate-secret")
    return SecretRotated.model_validate(body)


@router.post(
    "/endpoints/{endpoint_id}/test",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=MessageQueued,
    responses=PROBLEM_RESPONSES,
    summary="Send a webhook.test event to this endpoint",
)
async def send_test(
    endpoint_id: EndpointId, principal: TestWebhooks, webhooks: WebhooksServiceDep
) -> MessageQueued:
    body = await _call(webhooks, principal, "POST", f"/endpoints/{endpoint_id}/test")
    return MessageQueued.model_validate(body)


@router.get(
    "/endpoints/{endpoint_id}/attempts", response_model=AttemptPage, responses=PROBLEM_RESPONSES
)
async def list_endpoint_attempts(
    endpoint_id: EndpointId,
    principal: ReadWebhooks,
    webhooks: WebhooksServiceDep,
    message_id: Annotated[str | None, Query(pattern=OPAQUE_ID_PATTERN)] = None,
    succeeded: Annotated[QueryBool | None, Query()] = None,
    before: Annotated[BigintId | None, Query(description="Attempts older than this id.")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> AttemptPage:
    params = query_params(limit=limit, message_id=message_id, succeeded=succeeded, before=before)
    body = await _call(
        webhooks, principal, "GET", f"/endpoints/{endpoint_id}/attempts", params=params
    )
    return AttemptPage.model_validate(body)


@router.get(
    "/messages/{message_id}/attempts", response_model=AttemptPage, responses=PROBLEM_RESPONSES
)
async def list_message_attempts(
    message_id: MessageId,
    principal: ReadWebhooks,
    webhooks: WebhooksServiceDep,
    before: Annotated[BigintId | None, Query(description="Attempts older than this id.")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> AttemptPage:
    params = query_params(limit=limit, before=before or None)
    body = await _call(
        webhooks, principal, "GET", f"/messages/{message_id}/attempts", params=params
    )
    return AttemptPage.model_validate(body)


@router.post(
    "/endpoints/{endpoint_id}/messages/{message_id}/resend",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=MessageQueued,
    responses=PROBLEM_RESPONSES,
)
async def resend_message(
    endpoint_id: EndpointId,
    message_id: MessageId,
    principal: WriteWebhooks,
    webhooks: WebhooksServiceDep,
) -> MessageQueued:
    body = await _call(
        webhooks, principal, "POST", f"/endpoints/{endpoint_id}/messages/{message_id}/resend"
    )
    return MessageQueued.model_validate(body)


@router.post(
    "/endpoints/{endpoint_id}/recover",
    response_model=RecoverOut,
    responses=PROBLEM_RESPONSES,
    summary="Re-queue every failed message of the endpoint since a time",
)
async def recover(
    endpoint_id: EndpointId,
    body: RecoverIn,
    principal: WriteWebhooks,
    webhooks: WebhooksServiceDep,
) -> RecoverOut:
    result = await _call(
        webhooks,
        principal,
        "POST",
        f"/endpoints/{endpoint_id}/recover",
        json=body.model_dump(mode="json", exclude_none=True),
    )
    return RecoverOut.model_validate(result)
