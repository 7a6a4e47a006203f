"""API keys and access tokens: issued, checked, changed and revoked.

The keys of record live in the gateway's PostgreSQL database (``credentials``); Redis caches
their states for every gateway (``key_states``) and each process keeps the ones it verified for
a few seconds (``key_cache``). A check walks memory, then Redis, then PostgreSQL, and fills the
caches on the way back. A change is written to PostgreSQL first, then to the Redis cache and
announced to every gateway in one Redis script; if Redis cannot be told, the change fails (the
caller retries; every change is idempotent), so no cache can keep serving what was revoked.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from redis.asyncio import Redis
from redis.exceptions import RedisError

from tradewind.common.contracts.types import is_account_id
from tradewind.gateway.adapters.credentials import Credentials, KeyRecord, open_credentials
from tradewind.gateway.adapters.key_cache import VerifiedKeys
from tradewind.gateway.adapters.key_states import KeyState, SharedKeyCache
from tradewind.gateway.domain.auth_model import (
    ALL_SCOPES,
    DEFAULT_SCOPES,
    KEY_PREFIX,
    IssuedKey,
    Principal,
    key_digest,
    key_id_of,
)
from tradewind.gateway.domain.rate_limits import Budget, BudgetName
from tradewind.gateway.domain.tokens import TokenSigner, looks_like_token
from tradewind.gateway.metrics import KEY_FROM_DATABASE, KEY_FROM_MEMORY, KEY_FROM_REDIS

__all__ = ["DEFAULT_CACHE_TTL_S", "ApiKeyStore", "open_key_store"]

log = logging.getLogger(__name__)

DEFAULT_CACHE_TTL_S = 300


class ApiKeyStore:
    """Keys of record in PostgreSQL, cached in Redis and (``verified``) in this process."""

    def __init__(
        self,
        credentials: Credentials,
        cache: SharedKeyCache,
        verified: VerifiedKeys | None = None,
        tokens: TokenSigner | None = None,
    ) -> None:
        self.credentials = credentials
        self.cache = cache
        self.verified = verified
        self.tokens = tokens

    # --- checks -------------------------------------------------------------------------------

    async def authenticate(self, credential: str) -> Principal | None:
        """The principal of an API key or of an access token, or None if it is not valid."""
        if self.tokens is not None and looks_like_token(credential):
            return await self._authenticate_token(self.tokens, credential)
        digest = key_digest(credential)
        state = await self.key_state(key_id_of(digest))
        if state is None or state.principal is None:
            return None
        if not hmac.compare_digest(state.digest, digest):
            return None  # another key whose digest starts alike: the id is only 64 bits of it
        return state.principal

    async def _authenticate_token(self, tokens: TokenSigner, token: str) -> Principal | None:
        claims = tokens.verify(token)
        if claims is None:
            return None
        state = await self.key_state(claims.key_id)
        key = state.principal if state is not None else None
        if key is None or key.account_id != claims.account_id:
            return None
        return Principal(
            account_id=key.account_id,
            key_id=key.key_id,
            # Scopes taken from the key since the token was issued are gone from it too.
            scopes=claims.scopes & key.scopes,
            rate_budgets=key.rate_budgets,
            credential="access_token",
        )

    async def key_state(self, key_id: str) -> KeyState | None:
        """The key's current state: from memory, else Redis, else PostgreSQL (caching it)."""
        verified = self.verified
        if verified is not None:
            state = verified.get(key_id)
            if state is not None:
                KEY_FROM_MEMORY.inc()
                return state
        generation = verified.generation if verified is not None else 0
        state = await self._cached(key_id)
        if state is not None:
            KEY_FROM_REDIS.inc()
        else:
            KEY_FROM_DATABASE.inc()
            record = await self.credentials.find(key_id)
            if record is None:
                return None
            state = KeyState.of(record)
            await self._fill_cache(key_id, state)
        if verified is not None and state.principal is not None:
            verified.remember(key_id, state, generation)
        return state

    async def _cached(self, key_id: str) -> KeyState | None:
        # Redis is only a cache: when it fails, PostgreSQL answers.
        try:
            return await self.cache.get(key_id)
        except (RedisError, OSError) as exc:
            log.warning("API key cache unavailable", extra={"error": repr(exc)})
            return None

    async def _fill_cache(self, key_id: str, state: KeyState) -> None:
        try:
            await self.cache.store(key_id, state, announce=False)
        except (RedisError, OSError) as exc:
            log.warning("API key cache unavailable", extra={"error": repr(exc)})

    # --- changes ------------------------------------------------------------------------------

    async def _publish(self, record: KeyRecord) -> None:
        # Raises when Redis cannot be told: the caller must not report a change as done while
        # a cache may still serve the old state.
        await self.cache.store(record.key_id, KeyState.of(record), announce=True)
        if self.verified is not None:
            # This process hears the announcement too, but maybe only after its next request.
            self.verified.forget(record.key_id)

    async def create(
        self,
        account_id: str,
        scopes: frozenset[str] = DEFAULT_SCOPES,
        *,
        secret: str | None = None,
        rate_budgets: tuple[Budget, ...] = (),
    ) -> IssuedKey:
        """Issue a key (printed once), with its own ``rate_budgets`` over the gateway's defaults.
        The same ``secret`` again gives that key these scopes and budgets."""
        _check_scopes(scopes)
        if not is_account_id(account_id):
            raise ValueError("account id must be 1 to 64 of a-z, 0-9, '_' and '-'")
        plain = secret or KEY_PREFIX + secrets.token_urlsafe(32)
        digest = key_digest(plain)
        record = await self.credentials.issue(
            key_id=key_id_of(digest),
            digest=digest,
            account_id=account_id,
            scopes=scopes,
            rate_budgets=rate_budgets,
        )
        await self._publish(record)
        return IssuedKey(key_id=record.key_id, secret=plain)

    async def revoke(self, account_id: str, key_id: str) -> bool:
        """Revoke one of the account's keys; False if it has no such key. Idempotent."""
        record = await self.credentials.revoke(account_id, key_id)
        if record is None:
            return False
        await self._publish(record)
        return True

    async def set_scopes(
        self, account_id: str, key_id: str, scopes: frozenset[str]
    ) -> KeyRecord | None:
        """New scopes for one of the account's keys; None if it has none such. A revoked key
        stays revoked and keeps its scopes (see ``KeyRecord.revoked``)."""
        return await self.update(account_id, key_id, scopes=scopes)

    async def update(
        self,
        account_id: str,
        key_id: str,
        *,
        scopes: frozenset[str] | None = None,
        rate_budgets: Mapping[BudgetName, Budget | None] | None = None,
    ) -> KeyRecord | None:
        """Change one of the account's keys (``Credentials.update``) and tell every gateway;
        None if the account has no such key."""
        if scopes is not None:
            _check_scopes(scopes)
        record = await self.credentials.update(
            account_id, key_id, scopes=scopes, rate_budgets=rate_budgets
        )
        if record is not None:
            await self._publish(record)
        return record

    async def list_keys(self, account_id: str, *, limit: int = 1000) -> list[KeyRecord]:
        return await self.credentials.list_keys(account_id, limit=limit)

    async def find_key(self, account_id: str, key_id: str) -> KeyRecord | None:
        record = await self.credentials.find(key_id)
        return record if record is not None and record.account_id == account_id else None

    async def list_key_ids(self, account_id: str) -> list[str]:
        """Ids of the account's keys that are not revoked."""
        return sorted(r.key_id for r in await self.list_keys(account_id) if not r.revoked)


def _check_scopes(scopes: frozenset[str]) -> None:
    unknown = scopes - ALL_SCOPES
    if unknown:
        raise ValueError(f"unknown scopes: {', '.join(sorted(unknown))}")


@asynccontextmanager
async def open_key_store(
    database_url: str,
    redis_url: str,
    namespace: str,
    *,
    cache_ttl_s: int = DEFAULT_CACHE_TTL_S,
) -> AsyncIterator[ApiKeyStore]:
    """A store for tools and tests (the CLI, fixtures): no process cache, no tokens."""
    redis = Redis.from_url(redis_url)
    try:
        async with open_credentials(database_url) as credentials:
            yield ApiKeyStore(credentials, SharedKeyCache(redis, namespace, ttl_s=cache_ttl_s))
    finally:
        await redis.aclose()
