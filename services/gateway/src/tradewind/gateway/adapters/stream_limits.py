"""How many streams one API key may hold open at once, across every gateway process.

Each key has a sorted set in Redis, ``<ns>:stream-connections:{<account>}:<key id>``: one member
per open stream (a connection id), scored by the expiry of its lease in Redis's own clock (ms), so
the clocks of the gateways' hosts never matter.

- **Acquire**: one script (``_ACQUIRE``) drops the expired members, counts the rest and adds the
  new one if the key is under its limit. Redis runs a script alone, so gateways racing for a key's
  last slot admit exactly one stream.
- **Renew**: each gateway process renews the leases of all its open streams every third of a
  lease, in one pipeline (one script call per key, carrying that key's connection ids). A renewal
  adds a member that is missing, so a Redis that lost its data (restarted, flushed) counts every
  open stream again within one renewal; until then it counts fewer.
- **Release**: the member is removed when its stream closes, so the slot is free at once.
- **A gateway that dies** renews nothing: its leases expire after at most one lease
  (``stream_connection_lease_s``) and the next acquire of the key drops them; a set no process
  renews expires as a whole, so nothing is left behind.

Redis unreachable when a stream connects: the stream is admitted if this process holds fewer than
the limit for the key (the bound before issue 8: with N gateways, N times the limit), logged once
per outage. A stream is a read, and reads fail open while Redis is down (``admission``); the
per-process bound still caps what one key costs a process. Streams admitted so meanwhile are
counted in Redis by the next renewal after it answers again; streams already open are never
closed for a count, so a key may hold more than its limit for a while, and new streams of it are
refused until it is back under the limit.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass

from prometheus_client import Counter
from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

STREAM_ADMISSIONS = Counter(
    "tradewind_stream_connection_admissions_total",
    "Stream connections admitted or refused by the per-key limit, by who counted "
    "(redis: across gateways; process: this process alone, while Redis was unreachable).",
    ["outcome", "counted_by"],
)

# Redis's clock, in ms. TIME in a script is allowed since Redis 5 (effects are replicated).
_NOW_MS = """
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
"""

# The set lives as long as its longest lease: a key no process renews leaves nothing behind.
_EXPIRE_WITH_LAST_LEASE = """
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then redis.call('PEXPIREAT', KEYS[1], last[2]) end
"""

# KEYS[1]: the key's set. ARGV: limit, lease (ms), connection id. Returns 1 (admitted) or 0.
_ACQUIRE = (
    _NOW_MS
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
"""
    + _EXPIRE_WITH_LAST_LEASE
    + "return 1\n"
)

# KEYS[1]: the key's set. ARGV: lease (ms), then this process's connection ids of the key.
_RENEW = (
    _NOW_MS
    + """
local expiry = now + tonumber(ARGV[1])
for i = 2, #ARGV do
  redis.call('ZADD', KEYS[1], expiry, ARGV[i])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
"""
    + _EXPIRE_WITH_LAST_LEASE
)


def connections_key(namespace: str, account_id: str, key_id: str) -> str:
    # The account in braces: a Redis Cluster keeps an account's keys in one slot, as admission's.
    return f"{namespace}:stream-connections:{{{account_id}}}:{key_id}"


@dataclass(frozen=True)
class StreamSlot:
    """One admitted stream: the set it is counted in, and its member there."""

    redis_key: str
    connection_id: str


class OpenStreams:
    """This process's open streams by key: what it renews, and its bound when Redis is down."""

    def __init__(self) -> None:
        self._by_key: defaultdict[str, set[str]] = defaultdict(set)

    def add(self, slot: StreamSlot) -> None:
        self._by_key[slot.redis_key].add(slot.connection_id)

    def remove(self, slot: StreamSlot) -> None:
        held = self._by_key.get(slot.redis_key)
        if held is None:
            return
        held.discard(slot.connection_id)
        if not held:
            del self._by_key[slot.redis_key]

    def count(self, redis_key: str) -> int:
        held = self._by_key.get(redis_key)
        return len(held) if held else 0

    def by_key(self) -> dict[str, list[str]]:
        """A copy: the renewal sends it while streams come and go."""
        return {key: sorted(held) for key, held in self._by_key.items()}


class StreamConnectionLimit:
    """At most ``limit`` open streams per API key, counted across gateways in Redis."""

    def __init__(self, redis: Redis, namespace: str, *, limit: int, lease_s: float) -> None:
        self.limit = limit
        self.lease_s = lease_s
        self.namespace = namespace
        self._redis = redis
        self._acquire = redis.register_script(_ACQUIRE)
        self._renew = redis.register_script(_RENEW)
        self._open = OpenStreams()
        # A renewal and a release must not cross: a renewal sent with a connection id and
        # arriving after that connection's release would count a closed stream again.
        self._sending = asyncio.Lock()
        self._counting_here = False

    @property
    def renew_every_s(self) -> float:
        # Two renewals may fail (a Redis blip, a slow round trip) before a lease runs out.
        return self.lease_s / 3

    async def acquire(self, account_id: str, key_id: str) -> StreamSlot | None:
        """A slot for one more stream of the key, or None when the key is at its limit."""
        slot = StreamSlot(connections_key(self.namespace, account_id, key_id), uuid.uuid4().hex)
        try:
            admitted = bool(
                await self._acquire(
                    keys=[slot.redis_key],
                    args=[self.limit, round(self.lease_s * 1000), slot.connection_id],
                )
            )
        except (RedisError, OSError) as exc:
            self._count_here_from_now(exc)
            admitted = self._open.count(slot.redis_key) < self.limit
            counted_by = "process"
        else:
            self._count_in_redis_from_now()
            counted_by = "redis"
        STREAM_ADMISSIONS.labels(
            outcome="admitted" if admitted else "refused", counted_by=counted_by
        ).inc()
        if not admitted:
            return None
        self._open.add(slot)
        return slot

    async def release(self, slot: StreamSlot) -> None:
        """Free the slot for every gateway at once (if Redis cannot be told, its lease ends)."""
        self._open.remove(slot)
        async with self._sending:
            try:
                await self._redis.zrem(slot.redis_key, slot.connection_id)
            except (RedisError, OSError) as exc:
                log.info(
                    "stream slot not released in Redis; its lease will end",
                    extra={"error": repr(exc), "lease_s": self.lease_s},
                )

    async def renew(self) -> None:
        """Extend the lease of every stream open in this process, in one round trip."""
        async with self._sending:
            held = self._open.by_key()
            if not held:
                return
            lease_ms = round(self.lease_s * 1000)
            async with self._redis.pipeline(transaction=False) as pipe:
                for redis_key, connection_ids in held.items():
                    await self._renew(
                        keys=[redis_key], args=[lease_ms, *connection_ids], client=pipe
                    )
                await pipe.execute()

    async def keep_leases(self) -> None:
        """Renew every ``renew_every_s`` until cancelled (run it as a background task)."""
        renewing = True
        while True:
            await asyncio.sleep(self.renew_every_s)
            try:
                await self.renew()
            except (RedisError, OSError) as exc:
                if renewing:
                    log.warning(
                        "stream leases not renewed; renewing again until Redis answers",
                        extra={"error": repr(exc)},
                    )
                renewing = False
            else:
                if not renewing:
                    log.info("stream leases renewed again")
                renewing = True

    def _count_here_from_now(self, exc: BaseException) -> None:
        if not self._counting_here:
            log.warning(
                "cannot count streams across gateways; each process admits up to the limit per "
                "key until Redis answers",
                extra={"error": repr(exc), "limit": self.limit},
            )
        self._counting_here = True

    def _count_in_redis_from_now(self) -> None:
        if self._counting_here:
            log.info("counting streams across gateways again")
        self._counting_here = False
