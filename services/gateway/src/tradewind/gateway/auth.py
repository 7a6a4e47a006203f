"""API keys: random, shown once, stored only as a hash, mapped to an account and its scopes.

Keys are 256-bit random tokens, so a fast hash (SHA-256) is enough: there is nothing to brute
force, and a slow password hash would cost every request milliseconds.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request
from redis.asyncio import Redis

from tradewind.common.problems import Problem

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


@dataclass(frozen=True)
class IssuedKey:
    key_id: str
    secret: str  # the only time the plain key exists outside the client


def _digest(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


class ApiKeyStore:
    def __init__(self, redis: Redis, namespace: str) -> None:
        self.redis = redis
        self.namespace = namespace

    def _key(self, digest: str) -> str:
        return f"{self.namespace}:apikey:{digest}"

    def _account_keys(self, account_id: str) -> str:
        return f"{self.namespace}:account:{account_id}:keys"

    async def create(
        self, account_id: str, scopes: frozenset[str] = ALL_SCOPES, *, secret: str | None = None
    ) -> IssuedKey:
        unknown = scopes - ALL_SCOPES
        if unknown:
            raise ValueError(f"unknown scopes: {', '.join(sorted(unknown))}")
        if not account_id or len(account_id) > 64:
            raise ValueError("account id must be 1 to 64 characters")
        plain = secret or KEY_PREFIX + secrets.token_urlsafe(32)
        key_id = "key_" + _digest(plain)[:16]
        record = {
            "key_id": key_id,
            "account_id": account_id,
            "scopes": sorted(scopes),
            "created_at": datetime.now(UTC).isoformat(),
        }
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(self._key(_digest(plain)), json.dumps(record))
            pipe.hset(self._account_keys(account_id), key_id, _digest(plain))
            await pipe.execute()
        return IssuedKey(key_id=key_id, secret=plain)

    async def authenticate(self, api_key: str) -> Principal | None:
        raw = await self.redis.get(self._key(_digest(api_key)))
        if raw is None:
            return None
        record = json.loads(raw)
        return Principal(
            account_id=record["account_id"],
            key_id=record["key_id"],
            scopes=frozenset(record["scopes"]),
        )

    async def revoke(self, account_id: str, key_id: str) -> bool:
        digest = await self.redis.hget(self._account_keys(account_id), key_id)
        if digest is None:
            return False
        digest_text = digest.decode() if isinstance(digest, bytes) else str(digest)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self._key(digest_text))
            pipe.hdel(self._account_keys(account_id), key_id)
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


CurrentPrincipal = Annotated[Principal, Depends(authenticate)]


def require_scope(scope: str) -> object:
    async def check(principal: CurrentPrincipal) -> Principal:
        if scope not in principal.scopes:
            raise Problem(
                403, "Forbidden", f"This API key lacks the `{scope}` scope.", kind="forbidden"
            )
        return principal

    return Depends(check)
