"""What the gateway knows of one API key, and the Redis cache of it shared by every gateway.

PostgreSQL holds the keys (``credentials``); Redis only caches what was read there, for
``ttl_s``, so a Redis that loses everything costs one database read per key. Every entry carries
the row's ``version``, and an entry is only ever replaced by a newer one (one Lua script, atomic):
a lookup that read the database just before a revoke can never put the old, unrevoked state back
over the revocation the revoke wrote. Unknown key ids are not cached (random keys would fill
Redis); a revoked key is, so retrying it costs no database read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from tradewind.gateway.adapters.credentials import KeyRecord
from tradewind.gateway.domain.auth_model import Principal
from tradewind.gateway.domain.rate_limits import budgets_from_record, budgets_to_record

# KEYS[1] the entry; ARGV: version, encoded state, ttl seconds, channel ("" for none), key id.
_STORE_IF_NEWER = """
local current = redis.call('GET', KEYS[1])
local stored = 0
local newer = true
if current then
  local ok, decoded = pcall(cjson.decode, current)
  if ok and type(decoded) == 'table' and tonumber(decoded['v'])
      and tonumber(decoded['v']) >= tonumber(ARGV[1]) then
    newer = false
  end
end
if newer then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  stored = 1
end
if ARGV[4] ~= '' then
  redis.call('PUBLISH', ARGV[4], ARGV[5])
end
return stored
"""


@dataclass(frozen=True, slots=True)
class KeyState:
    """A key as of ``version``; ``principal`` is None once it is revoked."""

    version: int
    digest: str
    principal: Principal | None

    @classmethod
    def of(cls, record: KeyRecord) -> KeyState:
        principal = None
        if not record.revoked:
            principal = Principal(
                account_id=record.account_id,
                key_id=record.key_id,
                scopes=record.scopes,
                rate_budgets=record.rate_budgets,
            )
        return cls(version=record.version, digest=record.digest, principal=principal)

    def encode(self, key_id: str) -> str:
        body: dict[str, Any] = {"v": self.version, "d": self.digest}
        if self.principal is not None:
            body.update(
                a=self.principal.account_id,
                s=sorted(self.principal.scopes),
                b=budgets_to_record(self.principal.rate_budgets) or None,
            )
        return json.dumps(body, separators=(",", ":"))

    @classmethod
    def decode(cls, key_id: str, raw: str | bytes) -> KeyState:
        body = json.loads(raw)
        principal = None
        if "a" in body:
            principal = Principal(
                account_id=body["a"],
                key_id=key_id,
                scopes=frozenset(body["s"]),
                rate_budgets=budgets_from_record(body.get("b")),
            )
        return cls(version=int(body["v"]), digest=str(body["d"]), principal=principal)


def key_changes_channel(namespace: str) -> str:
    """Where the id of every created, changed or revoked key is published (see key_cache)."""
    return f"{namespace}:apikey-changes"


class SharedKeyCache:
    """Key states in Redis, by key id, for ``ttl_s``; replaced only by newer versions."""

    def __init__(self, redis: Redis, namespace: str, *, ttl_s: int) -> None:
        self.redis = redis
        self.namespace = namespace
        self.ttl_s = ttl_s
        self._store_if_newer = redis.register_script(_STORE_IF_NEWER)

    def _entry(self, key_id: str) -> str:
        return f"{self.namespace}:apikey:{key_id}"

    async def get(self, key_id: str) -> KeyState | None:
        raw = await self.redis.get(self._entry(key_id))
        return KeyState.decode(key_id, raw) if raw is not None else None

    async def store(self, key_id: str, state: KeyState, *, announce: bool) -> None:
        """Keep ``state`` unless a newer one is there; with ``announce``, tell every gateway
        in the same script, so every gateway is sent the message before the caller its answer."""
        keys = [self._entry(key_id)]
        args: list[str | int] = [
            state.version,
            state.encode(key_id),
            self.ttl_s,
            key_changes_channel(self.namespace) if announce else "",
            key_id,
        ]
        if not announce:
            await self._store_if_newer(keys=keys, args=args)
            return
        # Inside MULTI/EXEC, not alone: Redis writes pending replies most recently queued first,
        # and a caller whose MULTI was already answered is queued before the subscribers the
        # script publishes to, so they are written first. A bare EVALSHA's caller would be
        # answered before the subscribers are sent the change (an e2e test caught a gateway
        # still serving a revoked key from memory that way).
        async with self.redis.pipeline(transaction=True) as pipe:
            await self._store_if_newer(keys=keys, args=args, client=pipe)
            await pipe.execute()
