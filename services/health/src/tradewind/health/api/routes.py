"""HTTP routes: the status report as JSON and as a page. Thin: the poller does the work."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse

from tradewind.common.app import runtime_of
from tradewind.common.contracts.types import utc_now
from tradewind.health.api.page import CONTENT_SECURITY_POLICY, render_status_page
from tradewind.health.api.schemas import StatusReport, build_report
from tradewind.health.bootstrap import HealthRuntime
from tradewind.health.domain.status import StatusBoard
from tradewind.health.settings import HealthSettings

router = APIRouter(tags=["status"])


Runtime = Annotated[HealthRuntime, Depends(runtime_of(HealthRuntime))]


def _report(board: StatusBoard, settings: HealthSettings) -> StatusReport:
    return build_report(
        board,
        service_urls=settings.service_urls(),
        poll_interval_s=settings.poll_interval_s,
        now=utc_now(),
        queue_source=(
            "management_api" if settings.rabbitmq_management_url is not None else "passive_declare"
        ),
    )


@router.get(
    "/api/v1/status",
    response_model=StatusReport,
    summary="Aggregated status of every service and dependency",
)
async def status(runtime: Runtime) -> StatusReport:
    return _report(runtime.board, runtime.settings)


@router.get("/", response_class=HTMLResponse, summary="Status page for operators")
async def status_page(runtime: Runtime) -> HTMLResponse:
    return HTMLResponse(
        render_status_page(_report(runtime.board, runtime.settings)),
        headers={
            "Content-Security-Policy": CONTENT_SECURITY_POLICY,
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
