"""/api/v1/account (the account's ledger) and /api/v1/account/activities (both proxied to
orders), and /api/v1/account/statements (a job command on the broker). All need
``orders:read``: the ledger is made of the account's orders and fills, activities are its fills
and cash movements, and a statement is a file of them."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field, model_validator

from tradewind.common.contracts.account import AccountView
from tradewind.common.contracts.activities import ACTIVITY_TYPES_PATTERN, ActivityPageView
from tradewind.common.contracts.jobs import (
    JobKind,
    JobPriority,
    JobStatus,
    JobView,
    RequestStatement,
    StatementDate,
    statement_range_problem,
)
from tradewind.common.contracts.types import PAGE_TOKEN_PATTERN, UtcDateTime, UtcQueryDateTime
from tradewind.gateway.adapters.reads import ActivityQuery
from tradewind.gateway.api.admission import IdempotencyOf
from tradewind.gateway.api.deps import BrokerDep, OrderReadsDep
from tradewind.gateway.api.orders import PROBLEM_RESPONSES, ReadOrders, submit
from tradewind.gateway.domain.orders import new_order_id

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1/account", tags=["account"])


@router.get(
    "",
    response_model=AccountView,
    responses=PROBLEM_RESPONSES,
    summary="Get the account: cash, buying power, equity and P&L",
    description="Buying power is the cash minus what the open buy orders hold "
    "(`held_for_orders`); a buy that would hold more is rejected with the reason "
    "`insufficient_buying_power`. Positions are valued at the mid of the latest quote.",
)
async def get_account(principal: ReadOrders, reads: OrderReadsDep) -> AccountView:
    return await reads.account(principal.account_id)


@router.get(
    "/activities",
    response_model=ActivityPageView,
    responses=PROBLEM_RESPONSES,
    summary="List account activities (fills, deposits, withdrawals), newest first",
)
async def list_activities(
    principal: ReadOrders,
    reads: OrderReadsDep,
    activity_types: Annotated[
        str | None,
        Query(
            pattern=ACTIVITY_TYPES_PATTERN,
            description="Comma-separated activity types: FILL (fills), CSD (cash deposits), "
            "CSW (cash withdrawals). All types if unset.",
        ),
    ] = None,
    after: Annotated[
        UtcQueryDateTime | None, Query(description="Only activities at or after this time.")
    ] = None,
    until: Annotated[
        UtcQueryDateTime | None, Query(description="Only activities before this time.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    page_token: Annotated[str | None, Query(pattern=PAGE_TOKEN_PATTERN)] = None,
) -> ActivityPageView:
    query = ActivityQuery(activity_types, after, until, limit, page_token)
    return await reads.activities(principal.account_id, query)


class StatementRequest(BaseModel):
    """A statement (CSV of the account's activities) from ``start`` to ``end``, both UTC dates
    included, at most a year."""

    model_config = ConfigDict(extra="forbid")

    start: StatementDate
    end: StatementDate
    priority: JobPriority = JobPriority.NORMAL
    not_before: UtcDateTime | None = Field(
        default=None, description="Run no earlier than this time (within a few seconds)."
    )

    @model_validator(mode="after")
    def _a_year_at_most(self) -> StatementRequest:
        problem = statement_range_problem(self.start, self.end)
        if problem is not None:
            raise ValueError(problem)
        return self


@router.post(
    "/statements",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobView,
    responses=PROBLEM_RESPONSES,
    summary="Request a statement: a background job; poll the job, then download its file",
)
async def request_statement(
    body: StatementRequest,
    principal: ReadOrders,
    broker: BrokerDep,
    reads: OrderReadsDep,
    idempotency: IdempotencyOf,
) -> Response:
    now = datetime.now(UTC)
    # Derived from an Idempotency-Key as an order id is, so a retried request names one job.
    job_id = new_order_id(principal.account_id, idempotency)
    command = RequestStatement(
        job_id=job_id,
        account_id=principal.account_id,
        start=body.start,
        end=body.end,
        priority=body.priority,
        not_before=body.not_before,
        requested_at=now,
    )
    await submit(
        broker,
        command,
        account_id=principal.account_id,
        subject=str(job_id),
        priority=body.priority.amqp,
    )
    view = JobView(
        id=job_id,
        kind=JobKind.STATEMENT,
        status=JobStatus.QUEUED,
        progress=0.0,
        priority=body.priority,
        created_at=now,
        attempts=0,
        start=body.start,
        end=body.end,
    )
    try:
        await reads.pending_jobs.remember(principal.account_id, view)
    except Exception:
        # The command is on its way; failing now would invite a second job.
        log.exception("could not remember pending job", extra={"job_id": str(job_id)})
    return Response(
        view.model_dump_json(),
        status_code=status.HTTP_202_ACCEPTED,
        media_type="application/json",
        headers={"Location": f"/api/v1/jobs/{job_id}"},
    )
