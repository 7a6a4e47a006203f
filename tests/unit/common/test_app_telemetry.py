"""The app factory's request tracing: one server span continuing the caller's W3C trace."""

from __future__ import annotations

import secrets

from fastapi import APIRouter
from opentelemetry import trace

from unit.common.test_topology_and_problems import app, call

router = APIRouter()


@router.get("/trace")
async def current_trace() -> dict[str, str]:
    context = trace.get_current_span().get_span_context()
    return {
        "trace_id": format(context.trace_id, "032x"),
        "span_id": format(context.span_id, "016x"),
    }


async def test_a_route_runs_in_a_new_span_of_the_callers_trace() -> None:
    application = app()
    application.include_router(router)
    trace_id, parent_id = secrets.token_hex(16), secrets.token_hex(8)
    response = await call(
        application, "GET", "/trace", headers={"traceparent": f"00-{trace_id}-{parent_id}-01"}
    )
    assert response.status_code == 200
    seen = response.json()
    assert seen["trace_id"] == trace_id
    assert seen["span_id"] not in {parent_id, "0" * 16}


async def test_a_request_without_trace_context_starts_a_trace() -> None:
    application = app()
    application.include_router(router)
    first = (await call(application, "GET", "/trace")).json()
    second = (await call(application, "GET", "/trace")).json()
    assert first["trace_id"] != "0" * 32
    assert first["trace_id"] != second["trace_id"]
