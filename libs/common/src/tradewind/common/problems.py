"""RFC 9457 problem details for every error a service returns."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException

from tradewind.common.logging import request_id_var
from tradewind.common.resilience.unavailable import is_dependency_unavailable

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:tradewind:problem:"


class Problem(Exception):
    """Raise from a route to answer with a problem document."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        kind: str | None = None,
        headers: Mapping[str, str] | None = None,
        extensions: Mapping[str, Any] | None = None,
        **more_extensions: Any,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.kind = kind
        self.headers = dict(headers or {})
        self.extensions = {**(extensions or {}), **more_extensions}


def problem_response(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    kind: str | None = None,
    instance: str | None = None,
    headers: Mapping[str, str] | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"{TYPE_PREFIX}{kind}" if kind else "about:blank",
        "title": title,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    request_id = request_id_var.get()
    if request_id:
        body["request_id"] = request_id
    body.update(extensions or {})
    return JSONResponse(
        body, status_code=status, media_type=MEDIA_TYPE, headers=dict(headers or {})
    )


def _field_name(location: Sequence[int | str]) -> str:
    # ("body", "qty") -> "qty"; ("query", "limit") -> "limit"; nested keeps its path.
    parts = [str(p) for p in location]
    if parts and parts[0] in {"body", "query", "path", "header"}:
        parts = parts[1:]
    return ".".join(parts) or "body"


def validation_errors(errors: Sequence[Any]) -> list[dict[str, str]]:
    return [
        {
            "field": _field_name(error.get("loc", ())),
            "in": str(error.get("loc", ("body",))[0]),
            "message": str(error.get("msg", "invalid")).removeprefix("Value error, "),
        }
        for error in errors
    ]


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path (RFC 9110's Allow of a 405).

    The router answers 405 for the first route whose path matches, and that route lists only
    its own methods: POST /orders would say ``Allow: POST`` though GET /orders exists.
    """
    path = request.scope.get("path", "")
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        pattern = getattr(route, "path_regex", None)
        if pattern is not None and pattern.match(path):
            methods.update(route.methods or ())
    return sorted(methods)


def dependency_unavailable(request: Request, detail: str, *, retry_after_s: int) -> JSONResponse:
    """The 503 problem of a request a dependency (a store, the broker, the credentials
    database) could not serve: nothing is wrong with the request; retry after the delay."""
    return problem_response(
        503,
        "Service Unavailable",
        detail,
        kind="dependency-unavailable",
        instance=request.url.path,
        headers={"Retry-After": str(retry_after_s)},
    )


def install_problem_handlers(app: FastAPI) -> None:
    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        return problem_response(
            exc.status,
            exc.title,
            exc.detail,
            kind=exc.kind,
            instance=request.url.path,
            headers=exc.headers,
            extensions=exc.extensions,
        )

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        malformed = next((e for e in exc.errors() if e.get("type") == "json_invalid"), None)
        if malformed is not None:
            # A syntax error, not a semantic one: 400, and the position instead of a "field".
            location = malformed.get("loc", ())
            position = location[-1] if len(location) > 1 else None
            reason = malformed.get("ctx", {}).get("error", "invalid JSON")
            return problem_response(
                400,
                "Malformed JSON",
                f"The body is not valid JSON: {reason}"
                + (f" (at character {position})." if position is not None else "."),
                kind="malformed-json",
                instance=request.url.path,
            )
        errors = validation_errors(exc.errors())
        fields = sorted({e["field"] for e in errors})
        return problem_response(
            422,
            "Your request is not valid.",
            f"Invalid field(s): {', '.join(fields)}.",
            kind="validation-error",
            instance=request.url.path,
            extensions={"errors": errors},
        )

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(_allowed_methods(request))
        return problem_response(
            exc.status_code,
            HTTPStatus(exc.status_code).phrase,
            exc.detail if isinstance(exc.detail, str) else None,
            instance=request.url.path,
            headers=headers,
        )

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        if is_dependency_unavailable(exc):
            log.warning(
                "a dependency is unavailable",
                extra={"path": request.url.path, "error": repr(exc)},
            )
            return dependency_unavailable(
                request,
                "A store this service depends on is unavailable; try again shortly.",
                retry_after_s=1,
            )
        log.exception("unhandled error", extra={"path": request.url.path})
        return problem_response(
            500,
            "Internal Server Error",
            "An unexpected error occurred. Quote the request_id when you report it.",
            instance=request.url.path,
        )

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)
