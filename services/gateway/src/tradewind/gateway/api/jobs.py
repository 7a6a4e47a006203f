"""/api/v1/jobs: a background job's status, and its file once it succeeded (from orders)."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response

from tradewind.common.contracts.jobs import JobView
from tradewind.common.problems import Problem
from tradewind.gateway.api.deps import OrderReadsDep
from tradewind.gateway.api.orders import PROBLEM_RESPONSES, ReadOrders

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])


@router.get("/{job_id}", response_model=JobView, responses=PROBLEM_RESPONSES, summary="Get a job")
async def get_job(job_id: UUID, principal: ReadOrders, reads: OrderReadsDep) -> JobView:
    job = await reads.job(principal.account_id, job_id)
    if job is None:
        raise Problem(404, "Job not found", f"No job {job_id} in this account.", kind="not-found")
    return job


@router.get(
    "/{job_id}/file",
    response_class=Response,
    responses={
        **PROBLEM_RESPONSES,
        200: {"content": {"text/csv": {}}, "description": "The file (a statement: CSV)"},
        409: {
            "content": {"application/problem+json": {}},
            "description": "The job has not succeeded (yet)",
        },
    },
    summary="Download a job's file",
)
async def get_job_file(job_id: UUID, principal: ReadOrders, reads: OrderReadsDep) -> Response:
    file = await reads.job_file(principal.account_id, job_id)
    return Response(
        file,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="statement-{job_id}.csv"'},
    )
