"""What every resolver gets: the caller's credential and the shared reads; and the two ways a
resolver refuses: a missing scope, and a problem of the service behind it.

Errors follow the GraphQL response format: a message, the path, and ``extensions`` with a
``code`` and the HTTP ``status`` and problem ``type`` the REST API would have answered, so a
client handles a refusal the same way over both APIs.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

import strawberry
from graphql import GraphQLError
from strawberry.fastapi import BaseContext

from tradewind.common.problems import TYPE_PREFIX, Problem
from tradewind.gateway.adapters.reads import MarketReads, OrderReads
from tradewind.gateway.domain.auth_model import Principal

Found = TypeVar("Found")

# The code of each problem status, as GraphQL servers commonly name them.
_CODES = {
    400: "BAD_USER_INPUT",
    401: "UNAUTHENTICATED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    422: "BAD_USER_INPUT",
    429: "RATE_LIMITED",
    502: "UPSTREAM_ERROR",
    503: "SERVICE_UNAVAILABLE",
}


class GraphQLContext(BaseContext):
    def __init__(
        self, principal: Principal, order_reads: OrderReads, market_reads: MarketReads
    ) -> None:
        super().__init__()
        self.principal = principal
        self.order_reads = order_reads
        self.market_reads = market_reads


Info = strawberry.Info[GraphQLContext, None]


class RefusedError(GraphQLError):
    """A refusal the client may see as it is (unlike an unexpected error, which is masked)."""


def refusal(status: int, message: str, kind: str | None, **more: Any) -> RefusedError:
    return RefusedError(
        message,
        extensions={
            "code": _CODES.get(status, "INTERNAL_SERVER_ERROR"),
            "status": status,
            "type": f"{TYPE_PREFIX}{kind}" if kind else "about:blank",
            **more,
        },
    )


def bad_input(message: str) -> RefusedError:
    return refusal(422, message, "validation-error")


def require_scope(info: Info, scope: str) -> Principal:
    """The caller, if its credential has ``scope``; else the field is refused (403)."""
    principal = info.context.principal
    if scope not in principal.scopes:
        raise refusal(403, f"This API key lacks the `{scope}` scope.", "forbidden", scope=scope)
    return principal


def problem_error(problem: Problem) -> RefusedError:
    more = {key: value for key, value in problem.extensions.items() if key == "errors"}
    if "Retry-After" in problem.headers:
        more["retry_after"] = int(problem.headers["Retry-After"])
    return refusal(problem.status, problem.detail or problem.title, problem.kind, **more)


async def from_upstream(call: Awaitable[Found]) -> Found:
    """The read's answer; its problem (a 4xx relayed, the service unavailable) as a field
    error."""
    try:
        return await call
    except Problem as problem:
        raise problem_error(problem) from problem


async def unless_not_found(call: Awaitable[Found]) -> Found | None:
    """The read's answer, None where the service answered 404."""
    try:
        return await call
    except Problem as problem:
        if problem.status == 404:
            return None
        raise problem_error(problem) from problem
