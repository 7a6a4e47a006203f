"""Internal HTTP API: an account's background jobs and their files."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Response

from tradewind.common.contracts.jobs import JobView
from tradewind.common.problems import Problem
from tradewind.orders.api.routes import PROBLEM, AccountIdPath, Runtime
from tradewind.orders.domain.jobs import to_view

router = APIRouter(prefix="/internal/v1/accounts/{account_id}/jobs", tags=["jobs"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such job for this account", **PROBLEM}
}


def _not_found(account_id: str, job_id: UUID) -> Problem:
    return Problem(
        404, "Job not found", f"Account {account_id!r} has no job {job_id}.", kind="not-found"
    )


@router.get("/{job_id}", summary="One job of the account", responses=NOT_FOUND)
async def get_job(account_id: AccountIdPath, job_id: UUID, runtime: Runtime) -> JobView:
    job = await runtime.jobs.job(account_id, job_id)
    if job is None:
        raise _not_found(account_id, job_id)
    return to_view(job)


@router.get(
    "/{job_id}/file",
    summary="The file a job made (CSV), once it succeeded",
    response_class=Response,
    responses={
        200: {"content": {"text/csv": {}}, "description": "The file"},
        **NOT_FOUND,
        409: {"description": "The job has not succeeded (yet)", **PROBLEM},
    },
)
async def get_job_file(account_id: AccountIdPath, job_id: UUID, runtime: Runtime) -> Response:
    found = await runtime.jobs.file(account_id, job_id)
    if found is None:
        raise _not_found(account_id, job_id)
    job, file = found
    if file is None:
        raise Problem(
            409,
            "Job not finished",
            f"Job {job_id} is {job.status.value}; its file exists once it has succeeded.",
            kind="job-not-ready",
            extensions={"job_status": job.status.value},
        )
    return Response(
        file,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="statement-{job.start}-{job.end}.csv"'
        },
    )
