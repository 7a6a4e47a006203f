"""The gateway's credential checks as FastAPI dependencies: who a request acts for, its scope,
then its admission (rate limit and Idempotency-Key).

The checks ask ``ApiKeyStore`` (``handlers.api_keys``), which the app's ``GatewayRuntime`` holds.
"""

from __future__ import annotations

from fastapi import Depends, Request

from tradewind.common.problems import Problem
from tradewind.gateway.api.admission import admit
from tradewind.gateway.bootstrap import GatewayRuntime
from tradewind.gateway.domain.auth_model import Principal
from tradewind.gateway.domain.rate_limits import BudgetName

__all__ = [
    "authenticate",
    "bearer_token",
    "checks_credential",
    "require_credential",
    "require_scope",
    "required_scope",
]


def _unauthorized(detail: str) -> Problem:
    return Problem(
        401,
        "Unauthorized",
        detail,
        kind="unauthorized",
        headers={"WWW-Authenticate": 'Bearer realm="tradewind"'},
    )


def bearer_token(authorization: str) -> str | None:
    """The credential of an ``Authorization: Bearer <credential>`` header's value, if it is one."""
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


async def authenticate(request: Request) -> Principal:
    token = bearer_token(request.headers.get("authorization", ""))
    if token is None:
        raise _unauthorized(
            "Send your API key or access token as `Authorization: Bearer <credential>`."
        )
    # Read as api.deps reads the runtime: on every authenticated request, one attribute deep.
    runtime: GatewayRuntime = request.app.state.runtime
    principal = await runtime.api_keys.authenticate(token)
    if principal is None:
        raise _unauthorized("The API key or access token is not valid.")
    return principal


# Each scope check and its scope: the OpenAPI document declares what every route requires.
_SCOPE_CHECKS: dict[object, str] = {}
# Checks of a credential that need no particular scope (``require_credential``).
_CREDENTIAL_CHECKS: set[object] = set()


def required_scope(dependency: object) -> str | None:
    """The scope ``dependency`` checks, if it is one made by ``require_scope``."""
    return _SCOPE_CHECKS.get(dependency)


def checks_credential(dependency: object) -> bool:
    """Whether ``dependency`` authenticates the request (with or without a scope)."""
    return dependency in _SCOPE_CHECKS or dependency in _CREDENTIAL_CHECKS


def require_credential(budget: BudgetName) -> object:
    """Any valid API key or access token, whatever its scopes; then its rate limit."""

    async def check(request: Request) -> Principal:
        principal = await authenticate(request)
        await admit(request, principal, budget)
        return principal

    _CREDENTIAL_CHECKS.add(check)
    return Depends(check)


def require_scope(scope: str, budget: BudgetName | None = None) -> object:
    """The credential, its scope, then its rate limit (``budget``; reads by default for a
    ``:read`` scope) and Idempotency-Key (``admission``)."""
    if budget is None:
        if not scope.endswith(":read"):
            raise ValueError(f"name the rate-limit budget of routes needing {scope}")
        budget = "reads"
    spends: BudgetName = budget

    # One dependency, not one depending on ``authenticate``: each level of FastAPI's dependency
    # solving costs every request.
    async def check(request: Request) -> Principal:
        principal = await authenticate(request)
        if scope not in principal.scopes:
            raise Problem(
                403, "Forbidden", f"This API key lacks the `{scope}` scope.", kind="forbidden"
            )
        await admit(request, principal, spends)
        return principal

    _SCOPE_CHECKS[check] = scope
    return Depends(check)
