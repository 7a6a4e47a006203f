"""API keys: random, shown once, stored only as a hash, mapped to an account and its scopes.

Keys are 256-bit random tokens, so a fast hash (SHA-256) is enough: there is nothing to brute
force, and a slow password hash would cost every request milliseconds.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from fastapi import Depends, Request
from redis.asyncio import Redis

from tradewind.common.contracts.types import is_account_id
from tradewind.common.problems import Problem
from tradewind.gateway.admission import admit
from tradewind.gateway.metrics import KEY_FROM_MEMORY, KEY_FROM_REDIS
from tradewind.gateway.rate_limits import (
    Budget,
    BudgetName,
    budgets_from_record,
    budgets_to_record,
)

if TYPE_CHECKING:
    from tradewind.gateway.key_cache import VerifiedKeys

log = logging.getLogger(__name__)

KEY_PREFIX = "tw_"
ALL_SCOPES = frozenset(
    {
        "orders:read",
        "orders:write",
        "positions:read",
        "market:read",
        "webhooks:read",
        "webhooks:write",
        "stream",
    }
)


@dataclass(frozen=True)
class Principal:
    account_id: str
    key_id: str
    scopes: frozenset[str]
    rate_limits: tuple[Budget, ...] = ()  # the key's own budgets, over the gateway's defaults


@dataclass(frozen=True)
class IssuedKey:
    key_id: str
    secret: str  # the only time the plain key exists outside the client


def _digest(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def key_changes_channel(namespace: str) -> str:
    """Where the digest of every created or revoked key is published (see key_cache)."""
    return f"{namespace}:apikey-changes"


class ApiKeyStore:
    """Keys in Redis; ``verified``, when given, keeps checked keys in this process."""

    def __init__(self, redis: Redis, namespace: str, verified: VerifiedKeys | None = None) -> None:
        self.redis = redis
        self.namespace = namespace
        self.verified = verified

    def _key(self, digest: str) -> str:
        return f"{self.namespace}:apikey:{digest}"

    def _account_keys(self, account_id: str) -> str:
        return f"{self.namespace}:account:{account_id}:keys"

    async def create(
        self,
        account_id: str,
        scopes: frozenset[str] = ALL_SCOPES,
        *,
        secret: str | None = None,
        rate_limits: tuple[Budget, ...] = (),
    ) -> IssuedKey:
        unknown = scopes - ALL_SCOPES
        if unknown:
            raise ValueError(f"unknown scopes: {', '.join(sorted(unknown))}")
        if not is_account_id(account_id):
            raise ValueError("account id must be 1 to 64 of a-z, 0-9, '_' and '-'")
        plain = secret or KEY_PREFIX + secrets.token_urlsafe(32)
        key_id = "key_" + _digest(plain)[:16]
        record: dict[str, object] = {
            "key_id": key_id,
            "account_id": account_id,
            "scopes": sorted(scopes),
            "created_at": datetime.now(UTC).isoformat(),
        }
        if rate_limits:
            record["rate_limits"] = budgets_to_record(rate_limits)
        digest = _digest(plain)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(self._key(digest), json.dumps(record))
            pipe.hset(self._account_keys(account_id), key_id, digest)
            # An existing secret may be issued again with other scopes: gateways forget it.
            pipe.publish(key_changes_channel(self.namespace), digest)
            await pipe.execute()
        return IssuedKey(key_id=key_id, secret=plain)

    async def authenticate(self, api_key: str) -> Principal | None:
        digest = _digest(api_key)
        verified = self.verified
        if verified is None:
            KEY_FROM_REDIS.inc()
            return await self._read(digest)
        principal = verified.get(digest)
        if principal is not None:
            KEY_FROM_MEMORY.inc()
            return principal
        KEY_FROM_REDIS.inc()
        generation = verified.generation  # taken before reading: a change meanwhile wins
        principal = await self._read(digest)
        if principal is not None:
            verified.remember(digest, principal, generation)
        return principal

    async def _read(self, digest: str) -> Principal | None:
        raw = await self.redis.get(self._key(digest))
        if raw is None:
            return None
        record = json.loads(raw)
        if not is_account_id(record["account_id"]):
            # Issued before account ids were restricted: it goes into upstream URL paths.
            log.warning("key refused: its account id is not valid", extra={"key": record["key_id"]})
            return None
        return Principal(
            account_id=record["account_id"],
            key_id=record["key_id"],
            scopes=frozenset(record["scopes"]),
            rate_limits=budgets_from_record(record.get("rate_limits")),
        )

    async def revoke(self, account_id: str, key_id: str) -> bool:
        digest = await self.redis.hget(self._account_keys(account_id), key_id)
        if digest is None:
            return False
        digest_text = digest.decode() if isinstance(digest, bytes) else str(digest)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self._key(digest_text))
            pipe.hdel(self._account_keys(account_id), key_id)
            # In the same transaction as the delete: Redis sends it to every listening gateway
            # before it answers this revoke.
            pipe.publish(key_changes_channel(self.namespace), digest_text)
            await pipe.execute()
        return True

    async def list_key_ids(self, account_id: str) -> list[str]:
        keys = await self.redis.hkeys(self._account_keys(account_id))
        return sorted(k.decode() if isinstance(k, bytes) else str(k) for k in keys)


def _unauthorized(detail: str) -> Problem:
    return Problem(
        401,
        "Unauthorized",
        detail,
        kind="unauthorized",
        headers={"WWW-Authenticate": 'Bearer realm="tradewind"'},
    )


async def authenticate(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("Send your API key as `Authorization: Bearer <key>`.")
    store: ApiKeyStore = request.app.state.api_keys
    principal = await store.authenticate(token.strip())
    if principal is None:
        raise _unauthorized("The API key is not valid.")
    return principal


# Each scope check and its scope: the OpenAPI document declares what every route requires.
_SCOPE_CHECKS: dict[object, str] = {}


def required_scope(dependency: object) -> str | None:
    """The scope ``dependency`` checks, if it is one made by ``require_scope``."""
    return _SCOPE_CHECKS.get(dependency)


def require_scope(scope: str, budget: BudgetName | None = None) -> object:
    """The key, its scope, then its rate limit (``budget``; reads by default for a ``:read``
    scope) and Idempotency-Key (``admission``)."""
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
