"""/api/v1/keys: an account's API keys, managed with a key that has the `admin` scope.

An admin acts on the keys of its own account only; another account's key is 404 like any other
object of another account. There is no cross-account administrator over HTTP: operators manage
any account's keys with ``python -m tradewind.gateway.keys``, which needs the database itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from tradewind.common.contracts.patch import PatchBody
from tradewind.common.contracts.types import JsonInteger, QueryBool
from tradewind.common.problems import Problem
from tradewind.gateway.adapters.credentials import KeyRecord
from tradewind.gateway.api.auth import require_scope
from tradewind.gateway.api.deps import ApiKeysDep
from tradewind.gateway.domain.auth_model import ADMIN_SCOPE, ALL_SCOPES, DEFAULT_SCOPES, Principal
from tradewind.gateway.domain.rate_limits import (
    BUDGET_NAMES,
    MAX_KEY_QUOTA,
    MAX_KEY_WINDOW_S,
    Budget,
    BudgetName,
)

router = APIRouter(prefix="/api/v1/keys", tags=["keys"])
# Listing and reading keys spend the key's reads; changing them, its own ``keys`` budget.
AdminRead = Annotated[Principal, require_scope(ADMIN_SCOPE, budget="reads")]
AdminWrite = Annotated[Principal, require_scope(ADMIN_SCOPE, budget="keys")]
KeyId = Annotated[str, Path(pattern=r"^key_[0-9a-f]{16}$", description="The key's id.")]

Scope = Annotated[str, Field(json_schema_extra={"enum": sorted(ALL_SCOPES)})]

PROBLEM_RESPONSES: dict[int | str, dict[str, object]] = {
    code: {"content": {"application/problem+json": {}}, "description": text}
    for code, text in {
        401: "Missing or invalid API key or access token",
        403: "The credential lacks the `admin` scope",
        404: "No such key for this account",
        422: "Invalid request",
        503: "A dependency is unavailable; retry after Retry-After seconds",
    }.items()
}


class RateBudget(BaseModel):
    quota: int = Field(description="Requests allowed per window.", examples=[500])
    window_s: int = Field(description="The window's length in seconds.", examples=[60])


class KeyView(BaseModel):
    """An API key as its account sees it: never the key itself."""

    key_id: str = Field(examples=["key_3f1c2a9b8d7e6f50"])
    account_id: str
    scopes: list[str]
    rate_budgets: dict[BudgetName, RateBudget] = Field(
        default_factory=dict,
        description="The key's own rate-limit budgets, by name; a budget not named here is the "
        "gateway's default (see `RateLimit-Policy` on any answer).",
        examples=[{"orders": {"quota": 500, "window_s": 60}}],
    )
    created_at: datetime
    revoked_at: datetime | None = None

    @classmethod
    def of(cls, record: KeyRecord) -> KeyView:
        return cls(
            key_id=record.key_id,
            account_id=record.account_id,
            scopes=sorted(record.scopes),
            rate_budgets={
                b.name: RateBudget(quota=b.quota, window_s=b.window_s) for b in record.rate_budgets
            },
            created_at=record.created_at,
            revoked_at=record.revoked_at,
        )


class KeyCreated(KeyView):
    api_key: str = Field(
        description="The key itself. Shown only in this answer: it is not stored anywhere.",
        examples=["tw_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"],
    )


class KeyList(BaseModel):
    data: list[KeyView]


class RateBudgetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    quota: JsonInteger = Field(
        ge=1, le=MAX_KEY_QUOTA, description="Requests allowed per window.", examples=[500]
    )
    window_s: JsonInteger = Field(
        ge=1, le=MAX_KEY_WINDOW_S, description="The window's length in seconds.", examples=[60]
    )


_DEFAULT = "; null: the gateway's default."


class RateBudgetsIn(BaseModel):
    """A key's own rate-limit budgets, by name. A budget left out gets the gateway's default
    when a key is created, and keeps what it was when a key is changed; null is the default."""

    model_config = ConfigDict(extra="forbid")

    orders: RateBudgetIn | None = Field(
        default=None, description="Placing, replacing and canceling orders" + _DEFAULT
    )
    reads: RateBudgetIn | None = Field(default=None, description="Every GET" + _DEFAULT)
    webhooks: RateBudgetIn | None = Field(
        default=None, description="Webhook endpoint changes" + _DEFAULT
    )
    webhook_tests: RateBudgetIn | None = Field(
        default=None, alias="webhook-tests", description="Webhook test sends" + _DEFAULT
    )
    keys: RateBudgetIn | None = Field(default=None, description="An admin's key changes" + _DEFAULT)

    def changes(self) -> dict[BudgetName, Budget | None]:
        """The budgets this body names: a Budget to set, None to return to the default."""
        named = self.model_dump(by_alias=True, exclude_unset=True)
        return {
            name: None if named[name] is None else Budget(name, **named[name])
            for name in BUDGET_NAMES
            if name in named
        }

    def chosen(self) -> tuple[Budget, ...]:
        return tuple(budget for budget in self.changes().values() if budget is not None)


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scopes: list[Scope] | None = Field(
        default=None,
        max_length=len(ALL_SCOPES),
        description="The key's scopes; left out or null: every scope except `admin`.",
        examples=[["orders:read", "orders:write"]],
    )
    rate_budgets: RateBudgetsIn | None = Field(
        default=None,
        description="The key's own rate-limit budgets; those left out (or null): the "
        "gateway's defaults.",
    )


class ScopesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scopes: list[Scope] = Field(max_length=len(ALL_SCOPES), examples=[["orders:read"]])


class KeyPatch(PatchBody):
    """What to change, at least one field: the scopes (replaced as a whole), the rate budgets
    (each one named is set, or with null returned to the gateway's default; the others are
    kept), or both."""

    requires_a_field = True

    scopes: list[Scope] | None = Field(default=None, max_length=len(ALL_SCOPES))
    rate_budgets: RateBudgetsIn | None = None


def _scopes(requested: list[str]) -> frozenset[str]:
    scopes = frozenset(requested)
    unknown = scopes - ALL_SCOPES
    if unknown:
        raise Problem(
            422,
            "Unprocessable Content",
            f"Unknown scopes: {', '.join(sorted(unknown))}.",
            kind="validation",
        )
    return scopes


def _no_such_key() -> Problem:
    return Problem(404, "Not Found", "This account has no such key.", kind="not-found")


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=KeyCreated,
    responses=PROBLEM_RESPONSES,
    summary="Create an API key (the key is shown once)",
)
async def create_key(
    body: KeyIn, principal: AdminWrite, store: ApiKeysDep, response: Response
) -> KeyCreated:
    scopes = DEFAULT_SCOPES if body.scopes is None else _scopes(body.scopes)
    budgets = body.rate_budgets.chosen() if body.rate_budgets is not None else ()
    issued = await store.create(principal.account_id, scopes, rate_budgets=budgets)
    record = await store.find_key(principal.account_id, issued.key_id)
    if record is None:  # pragma: no cover - just written
        raise _no_such_key()
    response.headers["Location"] = f"/api/v1/keys/{issued.key_id}"
    response.headers["Cache-Control"] = "no-store"
    return KeyCreated(**KeyView.of(record).model_dump(), api_key=issued.secret)


@router.get("", response_model=KeyList, responses=PROBLEM_RESPONSES, summary="List API keys")
async def list_keys(
    principal: AdminRead,
    store: ApiKeysDep,
    include_revoked: Annotated[QueryBool, Query(description="List revoked keys too.")] = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> KeyList:
    records = await store.list_keys(principal.account_id, limit=1000)
    shown = [r for r in records if include_revoked or not r.revoked][:limit]
    return KeyList(data=[KeyView.of(r) for r in shown])


@router.get(
    "/{key_id}", response_model=KeyView, responses=PROBLEM_RESPONSES, summary="Get an API key"
)
async def get_key(key_id: KeyId, principal: AdminRead, store: ApiKeysDep) -> KeyView:
    record = await store.find_key(principal.account_id, key_id)
    if record is None:
        raise _no_such_key()
    return KeyView.of(record)


_REVOKED = {"content": {"application/problem+json": {}}, "description": "The key is revoked"}


def _changed(record: KeyRecord | None) -> KeyView:
    if record is None:
        raise _no_such_key()
    if record.revoked:
        raise Problem(409, "Conflict", "This key is revoked.", kind="key-revoked")
    return KeyView.of(record)


@router.put(
    "/{key_id}/scopes",
    response_model=KeyView,
    responses={**PROBLEM_RESPONSES, 409: _REVOKED},
    summary="Set an API key's scopes (effective at once on every gateway)",
)
async def set_scopes(
    key_id: KeyId, body: ScopesIn, principal: AdminWrite, store: ApiKeysDep
) -> KeyView:
    return _changed(await store.set_scopes(principal.account_id, key_id, _scopes(body.scopes)))


@router.patch(
    "/{key_id}",
    response_model=KeyView,
    responses={**PROBLEM_RESPONSES, 409: _REVOKED},
    summary="Change an API key's scopes and rate budgets (effective at once on every gateway)",
)
async def update_key(
    key_id: KeyId, body: KeyPatch, principal: AdminWrite, store: ApiKeysDep
) -> KeyView:
    record = await store.update(
        principal.account_id,
        key_id,
        scopes=_scopes(body.scopes) if body.scopes is not None else None,
        rate_budgets=body.rate_budgets.changes() if body.rate_budgets is not None else None,
    )
    return _changed(record)


@router.delete(
    "/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=PROBLEM_RESPONSES,
    summary="Revoke an API key (effective at once on every gateway, its tokens included)",
)
async def revoke_key(key_id: KeyId, principal: AdminWrite, store: ApiKeysDep) -> Response:
    if not await store.revoke(principal.account_id, key_id):
        raise _no_such_key()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
